"""Turns registry names from the command line into a problem, a model class and hparams.

Everything a user can mistype is resolved here, before any file is written, so a wrong
name or hparam fails with one line and leaves output_dir untouched.

The names, the run's settings and hparam overrides are gin configurables (`experiment.*`,
`run.*`, `hparams.*`); the binaries' flags bind them (see t2t_lite/gin_config.py).
"""
import types

import gin

from t2t_lite import registry, usr_dir
from t2t_lite.errors import UserError, suggestion

SCHEDULES = ("train", "evaluate", "train_and_evaluate", "continuous_eval")


def load_registrations(t2t_usr_dir=None):
  """Imports the built-in problems, models, hparams sets, optimizers and schedules, then
  the user's directory."""
  # pylint: disable=unused-import,import-outside-toplevel
  import t2t_lite.hparams  # noqa: F401
  import t2t_lite.models  # noqa: F401
  import t2t_lite.problems  # noqa: F401
  from t2t_lite.training import learning_rate, optimizers, trainer  # noqa: F401
  usr_dir.import_usr_dir(t2t_usr_dir)


@gin.configurable("experiment")
def names(problem=None, model=None, hparams_set=None, data_dir=None, problem_settings="",
          tfds_data_dir=None):
  """What a run combines (--problem, --model, --hparams_set, --data_dir,
  --problem_settings and --tfds_data_dir bind these)."""
  return types.SimpleNamespace(problem=problem, model=model, hparams_set=hparams_set,
                               data_dir=data_dir, problem_settings=problem_settings,
                               tfds_data_dir=tfds_data_dir)


@gin.configurable("run")
def run_settings(schedule="train_and_evaluate", strategy="default", worker_gpu=0,
                 deterministic=False, eval_timeout_secs=3600):
  """t2t-trainer's settings outside the Trainer (the flags of the same names bind them)."""
  if schedule not in SCHEDULES:
    raise UserError(f"unknown schedule '{schedule}'{suggestion(schedule, SCHEDULES)}")
  return types.SimpleNamespace(schedule=schedule, strategy=strategy, worker_gpu=worker_gpu,
                               deterministic=deterministic,
                               eval_timeout_secs=eval_timeout_secs)


@gin.configurable("hparams")
def hparams_bindings(**values):
  """gin's hparam overrides: `hparams.learning_rate_constant = 0.5`."""
  return values


def apply_overrides(hparams, overrides=""):
  """gin's `hparams.*` bindings, then the --hparams string: the hparams set < gin < flag."""
  for name, value in hparams_bindings().items():
    if name not in hparams:
      raise UserError(f"unknown hparam '{name}' in gin binding hparams.{name}"
                      f"{suggestion(name, hparams.values())}")
    hparams.set_hparam(name, value)
  return hparams.parse(overrides)


def overrides(hparams_set, hparams):
  """{name: value} of the hparams that differ from the registered set's."""
  base = registry.hparams(hparams_set).values()
  return {k: v for k, v in hparams.values().items() if base.get(k) != v}


def resolve(problem_name, model_name, hparams_set, hparams_overrides=""):
  """(problem instance, model class, hparams) with the overrides applied and checked."""
  problem = registry.problem(problem_name)
  model_cls = registry.model(model_name)
  hparams = apply_overrides(registry.hparams(hparams_set), hparams_overrides)
  # Validate names inside hparams now rather than at the first training step.
  from t2t_lite.training import learning_rate  # noqa: WPS433
  learning_rate.parse_schedule(hparams.learning_rate_schedule)
  registry.optimizers.get(hparams.optimizer)
  model_cls.validate_hparams(hparams)
  return problem, model_cls, hparams
