"""HParams: typed, validated hyperparameters with Tensor2Tensor's override syntax.

Each hparam keeps the type of its default; `--hparams="num_hidden_layers=4,
learning_rate_constant=0.5"` overrides are parsed and checked against it. Unknown keys
are errors with the closest known names. Serialized as JSON (never pickle or eval).
"""
import json
import re

from t2t_lite.errors import UserError, suggestion

_TYPES = (bool, int, float, str, list)


def _type_name(t):
  return {bool: "bool", int: "int", float: "float", str: "string", list: "list"}.get(t, str(t))


def _parse_scalar(text):
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


def _split_top_level(text):
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


class HParams:
  """A bag of named, typed hyperparameters."""

  def __init__(self, **kwargs):
    object.__setattr__(self, "_types", {})
    for k, v in kwargs.items():
      self.add_hparam(k, v)

  # -- definition -----------------------------------------------------------------------
  def add_hparam(self, name, value, type_=None):
    if name in self._types:
      raise ValueError(f"hparam '{name}' already exists")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
      raise ValueError(f"bad hparam name '{name}'")
    self._types[name] = type_ or (type(value) if value is not None else None)
    object.__setattr__(self, name, self._coerce(name, value) if value is not None else None)

  def del_hparam(self, name):
    self._types.pop(name)
    object.__delattr__(self, name)

  def __setattr__(self, name, value):
    if name not in self._types:
      raise UserError(f"unknown hparam '{name}'{suggestion(name, self._types)}")
    object.__setattr__(self, name, self._coerce(name, value))

  def __contains__(self, name):
    return name in self._types

  def get(self, name, default=None):
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

  def set_hparam(self, name, value):
    setattr(self, name, value)

  # -- overrides --------------------------------------------------------------------------
  def parse(self, overrides):
    """Applies 'k1=v1,k2=v2' (T2T syntax). Lists: 'k=[1,2,3]'. Returns self."""
    if not overrides:
      return self
    for item in _split_top_level(overrides):
      if "=" not in item:
        raise UserError(f"malformed --hparams entry '{item}': expected name=value, e.g. "
                        "--hparams='num_hidden_layers=4,learning_rate_constant=0.5'")
      name, text = (s.strip() for s in item.split("=", 1))
      if name not in self._types:
        raise UserError(f"unknown hparam '{name}' in --hparams{suggestion(name, self._types)}")
      if text.startswith("[") and text.endswith("]"):
        value = [_parse_scalar(x) for x in _split_top_level(text[1:-1])]
      else:
        value = _parse_scalar(text)
        if self._types[name] is str and not isinstance(value, str):
          value = text  # e.g. a string hparam given a value that looks like a number
      setattr(self, name, value)
    return self

  def override_from_dict(self, values):
    for k, v in values.items():
      if k not in self._types:
        raise UserError(f"unknown hparam '{k}'{suggestion(k, self._types)}")
      setattr(self, k, v)
    return self

  # -- serialization ----------------------------------------------------------------------
  def values(self):
    return {k: getattr(self, k) for k in self._types}

  def to_json(self, indent=2):
    return json.dumps(self.values(), indent=indent, sort_keys=True)

  @classmethod
  def from_json(cls, text):
    try:
      values = json.loads(text)
    except json.JSONDecodeError as e:
      raise UserError(f"hparams.json is not valid JSON ({e}); restore it or retrain") from None
    if not isinstance(values, dict):
      raise UserError("hparams.json must hold a JSON object of hparam values")
    return cls(**values)

  def copy(self):
    new = HParams()
    for k, t in self._types.items():
      new.add_hparam(k, _copy_value(getattr(self, k)), type_=t)
    return new

  def __repr__(self):
    return f"HParams({self.values()})"


def _copy_value(v):
  return list(v) if isinstance(v, list) else v
