"""A sweep file (TOML) -> trials, each a list of gin bindings with a stable name.

  [sweep]                        # optional
  gin_files = ["common.gin"]     # applied first in every trial (relative to this file)
  t2t_usr_dir = "my_t2t"         # passed on to every trial

  [base]                         # bindings every trial shares
  experiment.problem = "algorithmic_reverse_decimal40"
  Trainer.train_steps = 2000

  [grid]                         # every combination of these lists
  hparams.learning_rate_constant = [0.5, 1.0]
  hparams.num_hidden_layers = [1, 2]

  [zip]                          # lists of one length, taken element by element
  hparams.hidden_size = [64, 128]
  hparams.filter_size = [256, 512]

  [random]                       # random search: `trials` draws from ranges
  trials = 8
  seed = 1
  ranged_hparams = "transformer_base_range"      # a registered ranged hparams set
  hparams.initializer_gain = {min = 0.5, max = 2.0}
  hparams.learning_rate_constant = {min = 0.01, max = 1.0, scale = "log"}
  hparams.num_heads = {values = [2, 4]}

  [search]                       # guided search (Optuna): stands alone
  sampler = "tpe"                # tpe, cmaes, random; or {name = "tpe", startup_trials = 4}
  pruner = "median"              # median, successive_halving, hyperband, none; or a table
  trials = 16
  seed = 1
  metric = "neg_log_perplexity"  # any eval metric of the trials
  direction = "maximize"         # optional: the metric's own (metrics.direction)
  ranged_hparams = "transformer_base_range"
  learning_rate_constant = {min = 0.001, max = 100.0, scale = "log"}

A key is a gin binding `configurable.parameter`; a bare name is an hparam
(`learning_rate_constant` = `hparams.learning_rate_constant`). The sections present
multiply: [grid] x [zip] x [random]. [search] makes its trials as it goes (sweep/study.py),
so it takes no other trial section.
"""
import dataclasses
import hashlib
import itertools
import json
import os
import random
import re
import tomllib

from t2t_lite import gin_config
from t2t_lite.errors import UserError, suggestion
from t2t_lite.sweep import ranges

SECTIONS = ("sweep", "base", "grid", "zip", "random", "search")
SWEEP_KEYS = ("gin_files", "t2t_usr_dir")
RANDOM_KEYS = ("trials", "seed", "ranged_hparams")
SEARCH_KEYS = ("sampler", "pruner", "trials", "seed", "metric", "direction", "ranged_hparams")
DIRECTIONS = ("maximize", "minimize")
# Each sampler's and pruner's options (Optuna's arguments, in the trainer's units: global
# steps); the values are checked here, their meaning is sweep/study.py's.
SAMPLER_OPTIONS = {"tpe": ("startup_trials",), "cmaes": ("startup_trials",), "random": ()}
PRUNER_OPTIONS = {
    "none": (),
    "median": ("startup_trials", "warmup_steps"),
    "successive_halving": ("min_resource", "reduction_factor", "min_early_stopping_rate"),
    "hyperband": ("min_resource", "max_resource", "reduction_factor"),
}
OPTION_MINIMUM = {"startup_trials": 0, "warmup_steps": 0, "min_resource": 1,
                  "max_resource": 1, "reduction_factor": 2, "min_early_stopping_rate": 0}


@dataclasses.dataclass
class Trial:
  index: int          # 1-based, in the order of the sweep file
  overrides: dict     # binding key -> value: what this trial changes
  name: str = ""      # its directory: derived from the overrides alone

  def label(self):
    return ",".join(f"{short_key(k)}={short_value(v)}" for k, v in self.overrides.items()) or "base"


@dataclasses.dataclass(frozen=True)
class Search:
  """A [search] section: what to optimize, how to sample and prune, and the space."""
  sampler: str
  sampler_options: dict
  pruner: str
  pruner_options: dict
  trials: int
  seed: int
  metric: str
  direction: str | None  # None: the metric's declared direction
  ranges: dict           # binding key -> ranges.Range, in sweep-file order

  def describe(self):
    """Everything that defines the search but its budget (trials), as JSON-able data:
    the study keeps it, so every worker can check that it runs the same search."""
    return {"sampler": self.sampler, "sampler_options": self.sampler_options,
            "pruner": self.pruner, "pruner_options": self.pruner_options, "seed": self.seed,
            "metric": self.metric, "direction": self.direction,
            "ranges": {k: r.describe() for k, r in self.ranges.items()}}


@dataclasses.dataclass
class Sweep:
  path: str
  gin_files: list
  t2t_usr_dir: str
  base: dict
  trials: list
  search: Search | None = None

  def bindings(self, trial, extra_params=()):
    """The trial's gin bindings (after the gin files): the base, t2t-sweep's --gin_param,
    then the trial's own overrides, which win."""
    return ([f"{k} = {gin_config.literal(v)}" for k, v in self.base.items()]
            + list(extra_params)
            + [f"{k} = {gin_config.literal(v)}" for k, v in trial.overrides.items()])


def short_key(key):
  return key.rsplit(".", 1)[-1]


def short_value(value):
  if isinstance(value, float):
    return f"{value:.4g}"
  if isinstance(value, list):
    return "[" + ",".join(short_value(v) for v in value) + "]"
  return str(value)


def trial_name(overrides):
  """Readable and stable: the overrides in short form plus a hash of them in full, so the
  same overrides always get the same directory and different ones never share one."""
  canonical = json.dumps(overrides, sort_keys=True)
  digest = hashlib.sha1(canonical.encode()).hexdigest()[:8]
  text = ",".join(f"{short_key(k)}={short_value(v)}" for k, v in overrides.items())
  slug = re.sub(r"[^A-Za-z0-9._=,+-]", "_", text)[:80].strip("_")
  return f"{slug}-{digest}" if slug else f"base-{digest}"


def _key(key):
  if not re.fullmatch(r"[A-Za-z_][\w./]*", key):
    raise UserError(f"'{key}' is not a gin binding key (configurable.parameter) or an hparam "
                    "name")
  return key if "." in key else f"hparams.{key}"


def _flatten(table, is_leaf, prefix=""):
  """TOML's dotted keys nest (`Trainer.train_steps = 5` is {"Trainer": {...}}): undo it."""
  out = {}
  for k, v in table.items():
    key = f"{prefix}.{k}" if prefix else k
    if isinstance(v, dict) and not is_leaf(v):
      out.update(_flatten(v, is_leaf, key))
    else:
      out[_key(key)] = v
  return out


def _is_range(v):
  return isinstance(v, dict) and bool({"min", "max", "values"} & set(v))


def _grid(section):
  values = _flatten(section, lambda v: False)
  for key, v in values.items():
    if not isinstance(v, list) or not v:
      raise UserError(f"[grid] {key} must be a non-empty list of values, got {v!r}")
  keys = list(values)
  return [dict(zip(keys, combo)) for combo in itertools.product(*values.values())]


def _zip(section):
  values = _flatten(section, lambda v: False)
  lengths = {k: len(v) if isinstance(v, list) else -1 for k, v in values.items()}
  if any(n <= 0 for n in lengths.values()) or len(set(lengths.values())) > 1:
    raise UserError("[zip] needs non-empty lists of one length, got "
                    + ", ".join(f"{k}: {n if n >= 0 else 'not a list'}"
                                for k, n in lengths.items()))
  keys = list(values)
  return [dict(zip(keys, combo)) for combo in zip(*values.values())]


def _random(section):
  section = dict(section)
  trials = section.pop("trials", None)
  seed = section.pop("seed", 0)
  ranged_name = section.pop("ranged_hparams", None)
  if not isinstance(trials, int) or trials < 1:
    raise UserError(f"[random] needs trials = a positive number, got {trials!r}")
  found = _ranges(section, "[random]", ranged_name)
  rng = random.Random(seed)
  return [{k: r.sample(rng) for k, r in found.items()} for _ in range(trials)]


def _named_choice(section, key, default, options):
  """`key = "name"` or `key = {name = "...", option = value, ...}` -> (name, {options})."""
  value = section.pop(key, default)
  settings = {}
  if isinstance(value, dict):
    settings = dict(value)
    value = settings.pop("name", None)
  if not isinstance(value, str) or value not in options:
    raise UserError(f"[search] {key} = {value!r}: use one of {', '.join(options)}"
                    f"{suggestion(str(value), options) if isinstance(value, str) else ''}")
  for option, v in settings.items():
    allowed = options[value]
    if option not in allowed:
      raise UserError(f"[search] {key} '{value}' has no option '{option}'"
                      + (f"; it takes {', '.join(allowed)}" if allowed else "; it takes none"))
    if not isinstance(v, int) or isinstance(v, bool) or v < OPTION_MINIMUM[option]:
      raise UserError(f"[search] {key} option {option} = {v!r}: use a whole number >= "
                      f"{OPTION_MINIMUM[option]}")
  return value, settings


def _ranges(section, where, ranged_name):
  """{binding key: Range} from a ranged hparams set and the section's inline ranges."""
  found = {}
  if ranged_name is not None:
    found.update({f"hparams.{n}": r for n, r in ranges.ranged(ranged_name).items()})
  for key, spec in _flatten(section, _is_range).items():
    if not isinstance(spec, dict):
      raise UserError(f"{where} {key} must be a range, e.g. {{min = 0.1, max = 1.0, scale = "
                      f"\"log\"}} or {{values = [1, 2]}}, got {spec!r}")
    found[key] = ranges.from_spec(key, spec)
  if not found:
    raise UserError(f"{where} has no ranges: add ranged_hparams or key = {{min, max}}")
  return found


def _search(section):
  section = dict(section)
  for key, value in section.items():  # a misspelled setting would read as an hparam
    if key not in SEARCH_KEYS and not isinstance(value, dict):
      raise UserError(f"[search] unknown key '{key}'{suggestion(key, SEARCH_KEYS)} (a range "
                      "is written key = {min = ..., max = ...} or {values = [...]})")
  sampler, sampler_options = _named_choice(section, "sampler", "tpe", SAMPLER_OPTIONS)
  pruner, pruner_options = _named_choice(section, "pruner", "median", PRUNER_OPTIONS)
  trials = section.pop("trials", None)
  if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
    raise UserError(f"[search] needs trials = a positive number, got {trials!r}")
  seed = section.pop("seed", 0)
  if not isinstance(seed, int) or isinstance(seed, bool):
    raise UserError(f"[search] seed must be a whole number, got {seed!r}")
  metric = section.pop("metric", None)
  if not isinstance(metric, str) or not metric:
    raise UserError("[search] needs metric = the eval metric to optimize, e.g. "
                    "metric = \"neg_log_perplexity\"")
  direction = section.pop("direction", None)
  if direction is not None and direction not in DIRECTIONS:
    raise UserError(f"[search] direction = {direction!r}: use \"maximize\" or "
                    "\"minimize\" (or leave it out: the metric's own)")
  found = _ranges(section, "[search]", section.pop("ranged_hparams", None))
  for key, r in found.items():
    if r.choices is not None and not all(v is None or isinstance(v, (bool, int, float, str))
                                         for v in r.choices):
      raise UserError(f"[search] {key}: a searched choice is a number, string or boolean, "
                      f"got {r.choices!r}")
  return Search(sampler, sampler_options, pruner, pruner_options, trials, seed, metric,
                direction, found)


def load(path, usr_dir_flag=None, load_registrations=None):
  """The sweep in the TOML file at `path`, with every trial named. load_registrations(usr
  dir) runs once the file's t2t_usr_dir (or usr_dir_flag, which wins) is known, before
  ranged hparams sets are looked up."""
  if not os.path.isfile(path):
    raise UserError(f"sweep file {path} does not exist")
  try:
    with open(path, "rb") as f:
      spec = tomllib.load(f)
  except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
    raise UserError(f"sweep file {path} is not valid TOML ({e})") from None
  for section in spec:
    if section not in SECTIONS:
      raise UserError(f"sweep file {path}: unknown section [{section}]"
                      f"{suggestion(section, SECTIONS)}")
  meta = spec.get("sweep", {})
  for key in meta:
    if key not in SWEEP_KEYS:
      raise UserError(f"sweep file {path}: unknown key '{key}' in [sweep]"
                      f"{suggestion(key, SWEEP_KEYS)}")
  here = os.path.dirname(os.path.abspath(path))
  gin_files = [os.path.join(here, os.path.expanduser(f)) for f in meta.get("gin_files", [])]
  usr_dir = meta.get("t2t_usr_dir")
  if usr_dir:
    usr_dir = os.path.join(here, os.path.expanduser(usr_dir))
  usr_dir = os.path.abspath(os.path.expanduser(usr_dir_flag)) if usr_dir_flag else usr_dir
  if load_registrations:
    load_registrations(usr_dir)
  base = _flatten(spec.get("base", {}), lambda v: False)
  if "search" in spec:
    others = [f"[{s}]" for s in ("grid", "zip", "random") if s in spec]
    if others:
      raise UserError(f"sweep file {path}: [search] makes its own trials; move "
                      f"{', '.join(others)} into it as ranges ({{values = [...]}})")
    return Sweep(os.path.abspath(path), gin_files, usr_dir, base, [], _search(spec["search"]))
  combos = [{}]
  builders = {"grid": _grid, "zip": _zip, "random": _random}
  for section, build in builders.items():
    if section in spec:
      combos = [{**a, **b} for a in combos for b in build(spec[section])]
  trials = [Trial(i + 1, c, trial_name(c)) for i, c in enumerate(combos)]
  seen = {}
  for t in trials:
    if t.name in seen:
      raise UserError(f"sweep file {path}: trials {seen[t.name]} and {t.index} are the same "
                      f"({t.label()}); remove the duplicate values")
    seen[t.name] = t.index
  return Sweep(os.path.abspath(path), gin_files, usr_dir, base, trials)
