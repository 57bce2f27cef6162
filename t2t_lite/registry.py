"""Name -> object registries for problems, models, hparams sets, optimizers and schedules.

Names default to Tensor2Tensor's snake_case of the class or function name
(`TranslateEndeWmt32k` -> `translate_ende_wmt32k`, `LSTMSeq2seqAttention` ->
`lstm_seq2seq_attention`), so Tensor2Tensor users type what they already know.
"""
import inspect
import re

from t2t_lite.errors import UserError, suggestion

_first_cap_re = re.compile("(.)([A-Z][a-z0-9]+)")
_all_cap_re = re.compile("([a-z0-9])([A-Z])")


def default_name(obj_or_name):
  """Tensor2Tensor's conversion of a CamelCase class name to snake_case."""
  name = obj_or_name if isinstance(obj_or_name, str) else obj_or_name.__name__
  s1 = _first_cap_re.sub(r"\1_\2", name)
  return _all_cap_re.sub(r"\1_\2", s1).lower()


def _where(obj):
  try:
    return f"{inspect.getsourcefile(obj)}:{inspect.getsourcelines(obj)[1]}"
  except (TypeError, OSError):
    return repr(obj)


def _same_definition(a, b):
  # Re-importing a module (e.g. a usr_dir loaded twice) makes a new object with the same
  # qualified name and source location: that is the same definition, not a clash.
  if a is b:
    return True
  return (getattr(a, "__module__", None) == getattr(b, "__module__", None)
          and getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
          and _where(a) == _where(b))


class Registry:
  """One kind of registered thing (e.g. all models)."""

  def __init__(self, kind):
    self.kind = kind
    self._items = {}

  def register(self, name=None):
    """Decorator: `@register` or `@register("name")`."""
    if callable(name) and not isinstance(name, str):
      return self._add(default_name(name), name)

    def decorator(obj):
      return self._add(name or default_name(obj), obj)
    return decorator

  def _add(self, name, obj):
    old = self._items.get(name)
    if old is not None and not _same_definition(old, obj):
      raise UserError(f"{self.kind} '{name}' is registered twice: at {_where(old)} and at "
                      f"{_where(obj)}; rename one of them")
    self._items[name] = obj
    if isinstance(obj, type):
      obj.registered_name = name  # a problem knows the name its data files carry
    return obj

  def get(self, name):
    if name not in self._items:
      raise UserError(f"unknown {self.kind} '{name}'{suggestion(name, self._items)} "
                      f"(t2t-trainer --registry_help lists them all)")
    return self._items[name]

  def __contains__(self, name):
    return name in self._items

  def names(self):
    return sorted(self._items)


problems = Registry("problem")
models = Registry("model")
hparams_sets = Registry("hparams set")
ranged_hparams = Registry("ranged hparams set")
optimizers = Registry("optimizer")
learning_rate_schedules = Registry("learning-rate schedule factor")

register_problem = problems.register
register_model = models.register
register_hparams = hparams_sets.register
register_ranged_hparams = ranged_hparams.register
register_optimizer = optimizers.register
register_learning_rate_schedule = learning_rate_schedules.register


def problem(name):
  """An instance of the registered problem `name`."""
  return problems.get(name)()


def model(name):
  return models.get(name)


def hparams(name):
  """A fresh HParams from the registered hparams set `name`."""
  hp = hparams_sets.get(name)()
  if hp is None:
    raise UserError(f"hparams set '{name}' returned None; it must return its HParams")
  return hp


def help_string():
  """What --registry_help prints."""
  sections = [("Problems", problems), ("Models", models), ("HParams sets", hparams_sets),
              ("Ranged HParams", ranged_hparams), ("Optimizers", optimizers),
              ("Learning-rate schedule factors", learning_rate_schedules)]
  lines = []
  for title, reg in sections:
    lines.append(f"{title}:")
    lines.extend(f"  * {n}" for n in reg.names())
  return "\n".join(lines)
