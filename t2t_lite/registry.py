"""Name -> object registries for problems, models, hparams sets, optimizers and schedules,
and the decoders and exporters of what a problem emits (Problem.emits).

Names default to Tensor2Tensor's snake_case of the class or function name
(`TranslateEndeWmt32k` -> `translate_ende_wmt32k`, `LSTMSeq2seqAttention` ->
`lstm_seq2seq_attention`), so Tensor2Tensor users type what they already know.
"""
import difflib
import inspect
import re

from t2t_lite.errors import UserError, suggestion

_first_cap_re = re.compile("(.)([A-Z][a-z0-9]+)")
_all_cap_re = re.compile("([a-z0-9])([A-Z])")


def default_name(obj_or_name) -> str:
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


_contracts = {}  # "module:Class" -> (the class, its check of a registered class)
_capabilities = []  # capability classes (capability), in declaration order


def declare_contract(base: type, check) -> None:
  """Called by the module that defines a registry's contract class, right after it:
  check(cls) raises UserError when a registered class breaks the contract."""
  _contracts[f"{base.__module__}:{base.__qualname__}"] = base, check


def capability(cls: type) -> type:
  """Class decorator: an optional capability a registered class may inherit; registration
  records the ones it has (Registry.having, models_with)."""
  if cls not in _capabilities:
    _capabilities.append(cls)
  return cls


def check_capability_hooks(cls: type, what: str) -> None:
  """Raises UserError when `cls` defines a hook of a capability it does not inherit: the
  engine would never call it (it asks isinstance first)."""
  for cap in _capabilities:
    if issubclass(cls, cap):
      continue
    hooks = sorted(n for n in vars(cap) if not n.startswith("_") and n in vars(cls))
    if hooks:
      raise UserError(f"{what} defines {', '.join(hooks)} of capability {cap.__name__} but "
                      f"does not inherit it; add {cap.__module__}.{cap.__name__} to its "
                      f"bases ({_where(cls)})")


class Registry:
  """One kind of registered thing (e.g. all models).

  `contract` ("module:Class") names the base class whose contract a registered class must
  keep: it must subclass it, and the check the base declared runs at registration,
  so a missing hook or a misspelled one is an error there, not mid-run. The base's module
  (above this one) hands the class over with `declare_contract` when it defines it."""

  def __init__(self, kind: str, contract: str | None = None) -> None:
    self.kind = kind
    self.contract = contract
    self._items = {}
    self._capabilities = {}  # name -> the capability classes it inherits

  def register(self, name: str | None = None):
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
    if isinstance(obj, type):
      self._check_contract(name, obj)
      obj.registered_name = name  # a problem knows the name its data files carry
      self._capabilities[name] = tuple(c for c in _capabilities if issubclass(obj, c))
    self._items[name] = obj
    return obj

  def _check_contract(self, name, cls):
    if not self.contract:
      return
    module, class_name = self.contract.split(":")
    # A subclass of the base cannot exist before the base's module declared it.
    base, check = _contracts.get(self.contract, (None, None))
    if base is None or not issubclass(cls, base):
      raise UserError(f"{self.kind} '{name}' ({_where(cls)}) must subclass {module}."
                      f"{class_name}")
    check(cls)

  def get(self, name: str):
    if name not in self._items:
      raise UserError(f"unknown {self.kind} '{name}'{suggestion(name, self._items)} "
                      f"(t2t-trainer --registry_help lists them all)")
    return self._items[name]

  def __contains__(self, name: str) -> bool:
    return name in self._items

  def names(self) -> list[str]:
    return sorted(self._items)

  def having(self, capability_cls: type) -> list[str]:
    """The registered names whose class inherits capability_cls."""
    return [n for n in self.names() if capability_cls in self._capabilities.get(n, ())]

  def name_of(self, obj) -> str:
    """The name obj is registered under (its default name when it is not registered)."""
    for name, item in self._items.items():
      if _same_definition(item, obj):  # a re-imported usr_dir's class included
        return name
    return default_name(obj)


problems = Registry("problem", contract="t2t_lite.data.problem:Problem")
models = Registry("model", contract="t2t_lite.t2t_model:T2TModel")
hparams_sets = Registry("hparams set")
ranged_hparams = Registry("ranged hparams set")
optimizers = Registry("optimizer")
learning_rate_schedules = Registry("learning-rate schedule factor")
# Keyed by Problem.emits ("text", "ctc_frames"): decoding/ and serving/exporters.py.
decoders = Registry("decoder")
exporters = Registry("exporter")

register_problem = problems.register
register_model = models.register
register_hparams = hparams_sets.register
register_ranged_hparams = ranged_hparams.register
register_optimizer = optimizers.register
register_learning_rate_schedule = learning_rate_schedules.register
register_decoder = decoders.register
register_exporter = exporters.register


def problem(name: str):
  """An instance of the registered problem `name`, or of the mixture `a+b` of registered
  problems."""
  if MIXTURE_SEPARATOR in name:
    if _mixture_builder is None:
      raise UserError(f"problem '{name}' names a mixture, and t2t_lite.data.mixture (which "
                      "builds them) is not imported; import it or t2t_lite.problems")
    return _mixture_builder(name)
  return problems.get(name)()


MIXTURE_SEPARATOR = "+"
_mixture_builder = None  # name -> Problem; data/mixture.py (above this module) sets it


def set_mixture_builder(build) -> None:
  global _mixture_builder
  _mixture_builder = build


def model(name: str) -> type:
  return models.get(name)


def models_with(capability_cls: type) -> list[str]:
  """The registered models that have a capability (t2t_lite.capabilities), e.g.
  models_with(Streaming)."""
  return models.having(capability_cls)


def hparams(name: str):
  """A fresh HParams from the registered hparams set `name`."""
  hp = hparams_sets.get(name)()
  if hp is None:
    raise UserError(f"hparams set '{name}' returned None; it must return its HParams")
  return hp


def check_hook_names(cls: type, base: type, what: str) -> None:
  """Raises UserError when `cls` defines a name one typo away from a hook of `base` that it
  does not define itself: a misspelled override would silently never be called."""
  hooks = {n for n in dir(base) if not n.startswith("_")}
  for name in vars(cls):
    if name.startswith("_") or name in hooks:
      continue
    near = [h for h in difflib.get_close_matches(name, hooks, n=1, cutoff=0.9)
            if h not in vars(cls)]
    if near:
      raise UserError(f"{what} defines '{name}', which is not one of its base's hooks; did "
                      f"you mean {near[0]}? ({_where(cls)})")


def hparams_sets_having(names, limit: int = 3) -> list[str]:
  """Up to `limit` registered hparams sets that define every one of `names`."""
  found = []
  for set_name in hparams_sets.names():
    values = hparams_sets.get(set_name)()
    if values is not None and all(n in values for n in names):
      found.append(set_name)
  return found[:limit]


def help_string() -> str:
  """What --registry_help prints."""
  sections = [("Problems", problems), ("Models", models), ("HParams sets", hparams_sets),
              ("Ranged HParams", ranged_hparams), ("Optimizers", optimizers),
              ("Learning-rate schedule factors", learning_rate_schedules)]
  lines = []
  for title, reg in sections:
    lines.append(f"{title}:")
    lines.extend(f"  * {n}" for n in reg.names())
  return "\n".join(lines)
