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

A key is a gin binding `configurable.parameter`; a bare name is an hparam
(`learning_rate_constant` = `hparams.learning_rate_constant`). The sections present
multiply: [grid] x [zip] x [random].
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

SECTIONS = ("sweep", "base", "grid", "zip", "random")
SWEEP_KEYS = ("gin_files", "t2t_usr_dir")
RANDOM_KEYS = ("trials", "seed", "ranged_hparams")


@dataclasses.dataclass
class Trial:
  index: int          # 1-based, in the order of the sweep file
  overrides: dict     # binding key -> value: what this trial changes
  name: str = ""      # its directory: derived from the overrides alone

  def label(self):
    return ",".join(f"{short_key(k)}={_short(v)}" for k, v in self.overrides.items()) or "base"


@dataclasses.dataclass
class Sweep:
  path: str
  gin_files: list
  t2t_usr_dir: str
  base: dict
  trials: list

  def bindings(self, trial, extra_params=()):
    """The trial's gin bindings (after the gin files): the base, t2t-sweep's --gin_param,
    then the trial's own overrides, which win."""
    return ([f"{k} = {gin_config.literal(v)}" for k, v in self.base.items()]
            + list(extra_params)
            + [f"{k} = {gin_config.literal(v)}" for k, v in trial.overrides.items()])


def short_key(key):
  return key.rsplit(".", 1)[-1]


def _short(value):
  if isinstance(value, float):
    return f"{value:.4g}"
  if isinstance(value, list):
    return "[" + ",".join(_short(v) for v in value) + "]"
  return str(value)


def trial_name(overrides):
  """Readable and stable: the overrides in short form plus a hash of them in full, so the
  same overrides always get the same directory and different ones never share one."""
  canonical = json.dumps(overrides, sort_keys=True)
  digest = hashlib.sha1(canonical.encode()).hexdigest()[:8]
  text = ",".join(f"{short_key(k)}={_short(v)}" for k, v in overrides.items())
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
  found = {}
  if ranged_name is not None:
    found.update({f"hparams.{n}": r for n, r in ranges.ranged(ranged_name).items()})
  for key, spec in _flatten(section, _is_range).items():
    if not isinstance(spec, dict):
      raise UserError(f"[random] {key} must be a range, e.g. {{min = 0.1, max = 1.0, scale = "
                      f"\"log\"}} or {{values = [1, 2]}}, got {spec!r}")
    found[key] = ranges.from_spec(key, spec)
  if not found:
    raise UserError("[random] has no ranges: add ranged_hparams or key = {min, max}")
  rng = random.Random(seed)
  return [{k: r.sample(rng) for k, r in found.items()} for _ in range(trials)]


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
  return Sweep(os.path.abspath(path), gin_files, usr_dir,
               _flatten(spec.get("base", {}), lambda v: False), trials)
