"""Ranges of hparam values for random search: Tensor2Tensor's RangedHParams API.

A function registered with `registry.register_ranged_hparams` receives a RangedHParams
and fills it, as in Tensor2Tensor:

  @registry.register_ranged_hparams
  def transformer_base_range(rhp):
    rhp.set_float("learning_rate_constant", 0.3, 3.0, scale=rhp.LOG_SCALE)
    rhp.set_discrete("learning_rate_warmup_steps", [1000, 2000, 4000, 8000, 16000])

A sweep file's [random] section builds the same ranges from inline tables.
"""
import math

from t2t_lite import registry
from t2t_lite.errors import UserError

LINEAR_SCALE, LOG_SCALE, REVERSE_LOG_SCALE = "linear", "log", "reverse_log"
SCALES = (LINEAR_SCALE, LOG_SCALE, REVERSE_LOG_SCALE)


class Range:
  """One hparam's range: [low, high] floats or ints on a scale, or a list of choices."""

  def __init__(self, name, low=None, high=None, scale=LINEAR_SCALE, kind=float, choices=None):
    self.name, self.low, self.high, self.scale, self.kind = name, low, high, scale, kind
    self.choices = list(choices) if choices is not None else None
    if self.choices is not None:
      if not self.choices:
        raise UserError(f"range of '{name}' has no values")
      return
    if scale not in SCALES:
      raise UserError(f"range of '{name}': unknown scale '{scale}'; use one of "
                      f"{', '.join(SCALES)}")
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or low > high:
      raise UserError(f"range of '{name}' needs numbers min <= max, got {low!r}, {high!r}")
    if scale != LINEAR_SCALE and low <= 0:
      raise UserError(f"range of '{name}': a {scale} scale needs min > 0, got {low}")

  def describe(self):
    """The range as a sweep file writes it."""
    if self.choices is not None:
      return {"values": self.choices}
    return {"min": self.low, "max": self.high, "scale": self.scale, "type": self.kind.__name__}

  def ends(self):
    """The values at the edges of the range (every value of a list of choices)."""
    if self.choices is not None:
      return list(self.choices)
    return [self.kind(self.low), self.kind(self.high)]

  def sample(self, rng):
    """A value drawn uniformly on the range's scale (rng: a random.Random)."""
    if self.choices is not None:
      return self.choices[rng.randrange(len(self.choices))]
    low, high = float(self.low), float(self.high)
    if self.kind is int:  # every integer in [low, high] equally wide on the scale
      low, high = low - 0.5 + 1e-9, high + 0.5 - 1e-9
      low = max(low, 0.5) if self.scale != LINEAR_SCALE else low
    if self.scale == LINEAR_SCALE:
      x = rng.uniform(low, high)
    else:
      x = math.exp(rng.uniform(math.log(low), math.log(high)))
      if self.scale == REVERSE_LOG_SCALE:  # dense near high (e.g. Adam's beta2)
        x = high + low - x
    if self.kind is int:
      return int(min(max(round(x), self.low), self.high))
    return float(f"{x:.6g}")  # readable in trial names and config.gin


class RangedHParams:
  """Tensor2Tensor's interface: set_float, set_int, set_discrete, set_categorical."""

  LINEAR_SCALE, LOG_SCALE, REVERSE_LOG_SCALE = LINEAR_SCALE, LOG_SCALE, REVERSE_LOG_SCALE

  def __init__(self):
    self.ranges = {}

  def _set(self, r):
    self.ranges[r.name] = r

  def set_float(self, name, low, high, scale=LINEAR_SCALE, length=None):
    self._set(Range(name, low, high, scale, float))

  def set_int(self, name, low, high, scale=LINEAR_SCALE, length=None):
    self._set(Range(name, int(low), int(high), scale, int))

  def set_discrete(self, name, feasible_points, scale=None, length=None):
    self._set(Range(name, choices=feasible_points))

  def set_categorical(self, name, categories, length=None):
    self._set(Range(name, choices=categories))


def ranged(name):
  """The ranges of the registered ranged hparams set `name`."""
  rhp = RangedHParams()
  registry.ranged_hparams.get(name)(rhp)
  return rhp.ranges


def from_spec(name, spec):
  """A Range from a sweep file's inline table: {min, max, scale, type} or {values}."""
  allowed = {"min", "max", "scale", "type", "values"}
  unknown = sorted(set(spec) - allowed)
  if unknown:
    raise UserError(f"range of '{name}': unknown key {unknown[0]}; use min, max, scale "
                    "('linear', 'log', 'reverse_log'), type ('float', 'int') or values")
  if "values" in spec:
    if set(spec) != {"values"} or not isinstance(spec["values"], list):
      raise UserError(f"range of '{name}': 'values' is a list and stands alone")
    return Range(name, choices=spec["values"])
  if "min" not in spec or "max" not in spec:
    raise UserError(f"range of '{name}' needs min and max (or values)")
  kind = {"float": float, "int": int}.get(spec.get("type", "float"))
  if kind is None:
    raise UserError(f"range of '{name}': type is 'float' or 'int', got {spec['type']!r}")
  return Range(name, spec["min"], spec["max"], spec.get("scale", LINEAR_SCALE), kind)
