"""gin underneath the flags: parses --gin_file, --gin_param and the flags given on the
command line into one gin configuration, checks every binding, writes config.gin.

One precedence rule, later wins:
  defaults in code (and the hparams set)  <  a binary's preset of a shared group's defaults
  <  --gin_file (in order)  <  --gin_param (in order)  <  flags given on the command line
  (--hparams included).
A flag left at its default binds nothing, so a gin file's value stands.
"""
import inspect
import json
import os
import re

import gin

# The modules that declare gin configurables (experiment.*, run.*, hparams.*, Trainer.*,
# make_dataset.*, study_trial.*, Thread.*, DataCheck.*): imported here so that every binary
# can parse any run's config.gin.
from t2t_lite import experiment, machine  # noqa: F401
from t2t_lite.data import input_pipeline, manifest  # noqa: F401
from t2t_lite.errors import UserError, suggestion
from t2t_lite.training import run_dir, trainer, trial_options  # noqa: F401

CONFIG_FILE = "config.gin"

_NO_CONFIGURABLE = re.compile(r"No configurable matching '([^']+)'")
_NO_PARAMETER = re.compile(r"Configurable '([^']+)' doesn't have a parameter named '([^']+)'")
_LISTED_KWARG = re.compile(r"Configurable '([^']+)' (?:has denylisted kwarg|doesn't include "
                           r"kwarg) '([^']+)'")


def _registry():
  # gin 0.5 has no public listing of configurables; its registry maps selectors to them.
  return dict(gin.config._REGISTRY.items())  # pylint: disable=protected-access


def parameter_names(configurable):
  """The names gin lets a user bind on `configurable` (None: any, it takes **kwargs)."""
  fn = configurable.wrapped
  fn = fn.__init__ if inspect.isclass(fn) else fn
  params = inspect.signature(fn).parameters.values()
  if any(p.kind is p.VAR_KEYWORD for p in params):
    return None
  names = [p.name for p in params if p.name != "self" and
           p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
  if configurable.allowlist:
    names = [n for n in names if n in configurable.allowlist]
  return [n for n in names if n not in (configurable.denylist or ())]


def configurable_names():
  return sorted({c.name for c in _registry().values()})


def _find(name):
  for selector, c in _registry().items():
    if name in (c.name, selector) or selector.endswith("." + name):
      return c
  return None


def _explain(error, where):
  """A UserError for gin's exception, naming the binding and the closest valid names."""
  text = str(error)
  first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
  match = _NO_CONFIGURABLE.search(text)
  if match:
    name = match.group(1)
    return UserError(f"unknown gin configurable '{name}' in {where}"
                     f"{suggestion(name, configurable_names())}")
  match = _NO_PARAMETER.search(text) or _LISTED_KWARG.search(text)
  if match:
    name, param = match.groups()
    c = _find(name)
    valid = (parameter_names(c) or []) if c else []
    return UserError(f"gin configurable '{name}' has no parameter '{param}' (in {where})"
                     f"{suggestion(param, valid)}")
  if isinstance(error, SyntaxError):
    detail = [line.strip() for line in text.splitlines() if "Failed to parse token" in line]
    first = detail[0] if detail else first.split(" (")[0]
    return UserError(f"cannot parse {where} ({first}): write 'Configurable.parameter = "
                     "value' with Python literals, strings in quotes, e.g. "
                     "experiment.problem = 'algorithmic_reverse_decimal40'")
  return UserError(f"{where}: {first}")


def parse(gin_files=(), gin_params=(), flag_bindings=(), params_are="--gin_param",
          presets=(), skip_unknown=False):
  """Applies presets (bindings of a binary's own defaults), gin files, then bindings, then
  the flags' bindings, in that order. params_are: what errors call a binding of gin_params.
  skip_unknown: bindings of configurables not registered (yet) are skipped."""
  sources = [(f"preset '{b}'", None, b) for b in presets]
  sources += [(f"gin file {path}", path, None) for path in gin_files]
  sources += [(f"{params_are} '{b}'", None, b) for b in gin_params]
  sources += [(f"flag binding '{b}'", None, b) for b in flag_bindings]
  for where, path, binding in sources:
    if path is not None and not os.path.isfile(os.path.expanduser(path)):
      raise UserError(f"{where} does not exist")
    try:
      if path is not None:
        gin.parse_config_file(os.path.expanduser(path), skip_unknown=skip_unknown)
      else:
        gin.parse_config(binding, skip_unknown=skip_unknown)
    except (ValueError, SyntaxError, TypeError, ImportError) as e:
      raise _explain(e, where) from None


def literal(value):
  """A value (str, int, float, bool, None, lists of them) as gin source; strings in double
  quotes, which read well inside a shell's single quotes."""
  if isinstance(value, str):
    return json.dumps(value)  # also a valid Python string literal
  if isinstance(value, (list, tuple)):
    return "[" + ", ".join(literal(v) for v in value) + "]"
  return repr(value)


def flag_bindings(flag_values, mapping):
  """'configurable.parameter = value' for each flag in `mapping` given on the command line."""
  return [f"{binding} = {literal(flag_values[name].value)}"
          for name, binding in mapping.items()
          if name in flag_values and flag_values[name].present]


def _configurable_of(fn):
  for c in _registry().values():
    if fn in (c.wrapper, c.wrapped):
      return c
  raise ValueError(f"{fn} is not a gin configurable")


def record(fn, **values):
  """Binds values that were decided outside gin (resolved names, the --hparams overrides)
  and calls `fn`, so the operative config shows what the run really used."""
  name = _configurable_of(fn).name
  for key, v in values.items():
    gin.bind_parameter(f"{name}.{key}", v)
  return fn()


def config_text(program):
  return (f"# The operative gin configuration of this run, written by {program}.\n"
          f"# Reproduce it: {program} --gin_file=THIS_FILE --output_dir=NEW_DIR\n"
          "# (add --t2t_usr_dir if the run used one).\n\n" + gin.operative_config_str())


def write_config(output_dir, program):
  run_dir.write_atomic(os.path.join(output_dir, CONFIG_FILE), config_text(program))


def clear():
  gin.clear_config()
