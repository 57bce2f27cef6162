"""HParams: typed, validated hyperparameters with Tensor2Tensor's override syntax.

Each hparam keeps the type of its default; `--hparams="num_hidden_layers=4,
learning_rate_constant=0.5"` overrides are parsed and checked against it. Unknown keys
are errors with the closest known names. Serialized as JSON (never pickle or eval).

Each hparam is declared once, with its type, default, bounds and help, by the code that
reads it: an hparams group (options.hparams_group) of the engine (engine_hparams.py), a
layer, a model or a problem. A registered hparams set is a preset: the groups it composes,
with some defaults replaced (`HParams.of(groups...).replace(name=value, ...)`, or
`base_set().with_groups(...).replace(...)`). `validate` checks a set against the
declarations in one place (experiment.validate).
"""
import dataclasses
import json
import re

from t2t_lite import registry
from t2t_lite.errors import UserError, suggestion

_TYPES = (bool, int, float, str, list)


def _type_name(t):
  return {bool: "bool", int: "int", float: "float", str: "string", list: "list"}.get(t, str(t))


def parse_scalar(text: str) -> bool | int | float | str:
  """A string from the command line -> bool/int/float/str, without eval."""
  low = text.lower()
  if low in ("true", "false"):
    return low == "true"
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
    return text[1:-1]
  return text


def split_top_level(text: str) -> list[str]:
  """Splits 'a=1,b=[1,2],c=x' on the commas that are not inside brackets."""
  parts, depth, cur = [], 0, []
  for ch in text:
    if ch in "[(":
      depth += 1
    elif ch in "])":
      depth -= 1
    if ch == "," and depth == 0:
      parts.append("".join(cur))
      cur = []
    else:
      cur.append(ch)
  parts.append("".join(cur))
  return [p.strip() for p in parts if p.strip()]


def parse_value(text: str, type_: type | None = None):
  """A command-line value: a list '[1,2]', or a scalar; kept as text for a str setting
  whose value looks like a number."""
  if text.startswith("[") and text.endswith("]"):
    return [parse_scalar(x) for x in split_top_level(text[1:-1])]
  value = parse_scalar(text)
  if type_ is str and not isinstance(value, str):
    return text
  return value


class HParams:
  """A bag of named, typed hyperparameters."""

  def __init__(self, **kwargs) -> None:
    object.__setattr__(self, "_types", {})
    for k, v in kwargs.items():
      self.add_hparam(k, v)

  # -- presets ----------------------------------------------------------------------------
  @classmethod
  def of(cls, *groups) -> "HParams":
    """The hparams of hparams-group instances (options.hparams_group), with their types."""
    return cls().with_groups(*groups)

  def with_groups(self, *groups) -> "HParams":
    """A copy with the hparams of more hparams-group instances; a name already present is
    an error (each hparam is declared by one group)."""
    new = self.copy()
    for group in groups:
      for name, type_, _, _ in type(group).declarations():
        if name in new:
          raise ValueError(f"hparam {name} of {type(group).__name__} is already declared")
        new.add_hparam(name, _copy_value(getattr(group, name)), type_=type_)
    return new

  def replace(self, **changes) -> "HParams":
    """A copy with `changes` (a preset's values over the declared defaults); unknown
    names and wrong types are errors."""
    return self.copy().override_from_dict(changes)

  # -- definition -----------------------------------------------------------------------
  def add_hparam(self, name: str, value, type_: type | None = None) -> None:
    self._check_not_frozen(name)
    if name in self._types:
      raise ValueError(f"hparam '{name}' already exists")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
      raise ValueError(f"bad hparam name '{name}'")
    self._types[name] = type_ or (type(value) if value is not None else None)
    object.__setattr__(self, name, self._coerce(name, value) if value is not None else None)

  def del_hparam(self, name: str) -> None:
    self._check_not_frozen(name)
    self._types.pop(name)
    object.__delattr__(self, name)

  def __setattr__(self, name, value):
    self._check_not_frozen(name)
    if name not in self._types:
      raise UserError(f"unknown hparam '{name}'{suggestion(name, self._types)}")
    object.__setattr__(self, name, self._coerce(name, value))

  def frozen(self) -> "HParams":
    """A copy that refuses changes: a run's hparams once resolved (experiment.final_hparams),
    so what the model was built with is what hparams.json records. copy() or replace() make
    a changeable one."""
    new = self.copy()
    object.__setattr__(new, "_frozen", True)
    return new

  def _check_not_frozen(self, name):
    if self.__dict__.get("_frozen"):
      raise TypeError(f"cannot change hparam '{name}': these hparams are resolved; change "
                      "them before experiment.final_hparams, or vary a copy()")

  def __contains__(self, name: str) -> bool:
    return name in self._types

  def get(self, name: str, default=None):
    return getattr(self, name) if name in self._types else default

  # -- typing ---------------------------------------------------------------------------
  def _coerce(self, name, value):
    t = self._types[name]
    if value is None or t is None:
      return value
    if t is float and isinstance(value, int) and not isinstance(value, bool):
      return float(value)
    if t is list and isinstance(value, tuple):
      return list(value)
    if not isinstance(value, t) or (t is int and isinstance(value, bool)):
      raise UserError(f"hparam '{name}' is a {_type_name(t)}, got {value!r} "
                      f"({_type_name(type(value))})")
    return value

  def set_hparam(self, name: str, value) -> None:
    setattr(self, name, value)

  # -- overrides --------------------------------------------------------------------------
  def parse(self, overrides: str) -> "HParams":
    """Applies 'k1=v1,k2=v2' (T2T syntax). Lists: 'k=[1,2,3]'. Returns self."""
    if not overrides:
      return self
    for item in split_top_level(overrides):
      if "=" not in item:
        raise UserError(f"malformed --hparams entry '{item}': expected name=value, e.g. "
                        "--hparams='num_hidden_layers=4,learning_rate_constant=0.5'")
      name, text = (s.strip() for s in item.split("=", 1))
      if name not in self._types:
        raise UserError(f"unknown hparam '{name}' in --hparams{suggestion(name, self._types)}")
      setattr(self, name, parse_value(text, self._types[name]))
    return self

  def override_from_dict(self, values: dict) -> "HParams":
    for k, v in values.items():
      if k not in self._types:
        raise UserError(f"unknown hparam '{k}'{suggestion(k, self._types)}")
      setattr(self, k, v)
    return self

  # -- serialization ----------------------------------------------------------------------
  def values(self) -> dict:
    return {k: getattr(self, k) for k in self._types}

  def to_json(self, indent: int = 2) -> str:
    return json.dumps(self.values(), indent=indent, sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> "HParams":
    try:
      values = json.loads(text)
    except json.JSONDecodeError as e:
      raise UserError(f"hparams.json is not valid JSON ({e}); restore it or retrain") from None
    if not isinstance(values, dict):
      raise UserError("hparams.json must hold a JSON object of hparam values")
    return cls(**values)

  def copy(self) -> "HParams":
    new = HParams()
    for k, t in self._types.items():
      new.add_hparam(k, _copy_value(getattr(self, k)), type_=t)
    return new

  def __repr__(self):
    return f"HParams({self.values()})"


def _copy_value(v):
  return list(v) if isinstance(v, list) else v


# -- declarations ---------------------------------------------------------------------------
def _number(x):
  """A bound as a user reads it: 2147483647, not 2.14748e+09; 0.5 and 1e-06 as usual."""
  return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclasses.dataclass(frozen=True)
class Bounds:
  """The values a setting or hparam accepts beside its type: minimum and maximum are
  inclusive, above and below exclusive (dropout < 1, a temperature > 0); `also` lists
  values accepted outside the range (the -1 of "-1: all")."""
  minimum: float | None = None
  maximum: float | None = None
  above: float | None = None
  below: float | None = None
  choices: tuple = ()
  also: tuple = ()

  def problem(self, value):
    """Why `value` is not allowed (None when it is)."""
    if value is None or value in self.also:
      return None
    if self.choices and value not in self.choices:
      return f"must be one of {', '.join(map(str, self.choices))}"
    alternative = "".join(f" or {_number(a)}" for a in self.also)
    if self.minimum is not None and value < self.minimum:
      return f"must be >= {_number(self.minimum)}{alternative}"
    if self.maximum is not None and value > self.maximum:
      return f"must be <= {_number(self.maximum)}{alternative}"
    if self.above is not None and value <= self.above:
      return f"must be > {_number(self.above)}{alternative}"
    if self.below is not None and value >= self.below:
      return f"must be < {_number(self.below)}{alternative}"
    return None

  def invalid_values(self, type_):
    """Values of type_ these bounds refuse (tests check every declared bound with them)."""
    out = []
    if self.choices:
      out.append("not_a_choice" if type_ is str else max(self.choices) + 1)
    for bound, delta in ((self.minimum, -1), (self.maximum, 1), (self.above, 0),
                         (self.below, 0)):
      if bound is not None and type_(bound + delta) not in self.also:
        out.append(type_(bound + delta))
    if self.minimum is not None and self.also:  # below the range and every exception
      out.append(type_(min(self.minimum, *self.also) - 1))
    return out


@dataclasses.dataclass(frozen=True)
class HParamSpec:
  """What one hparam may hold: the view of an hparams group's field (options.HParamsGroup.
  specs) that `validate` checks."""
  name: str
  type: type
  help: str
  bounds: Bounds = Bounds()
  # May differ at evaluation and decoding from what the run was trained with (it changes
  # how batches are formed or the compute dtype, not the weights).
  eval_time: bool = False


def validate(hp: HParams, specs, owner: str, kind: str = "hparams") -> None:
  """Raises UserError for the first hparam of `specs` that `hp` lacks, has the wrong type,
  or holds a value outside its declaration. `owner` names who needs them ("model x")."""
  missing = [s.name for s in specs if s.name not in hp]
  if missing:
    fitting = registry.hparams_sets_having(missing)
    hint = f", e.g. {', '.join(fitting)}" if fitting else ""
    raise UserError(f"{owner} needs {kind} {', '.join(missing)} that this hparams set "
                    f"lacks; use a set made for it{hint}")
  for s in specs:
    value = getattr(hp, s.name)
    if s.type in (int, float) and (isinstance(value, bool) or
                                   not isinstance(value, (int, float))):
      raise UserError(f"hparam {s.name}={value!r} must be a {_type_name(s.type)}")
    problem = s.bounds.problem(value)
    if problem:
      raise UserError(f"hparam {s.name}={value!r} {problem}")


def merge_specs(*groups) -> list[HParamSpec]:
  """One list of specs; an hparam declared by two readers must be declared the same."""
  seen = {}
  for s in (s for g in groups for s in g):
    if s.name in seen and seen[s.name] != s:
      raise ValueError(f"hparam {s.name} is declared twice, differently: {seen[s.name]} "
                       f"and {s}")
    seen[s.name] = s
  return list(seen.values())
