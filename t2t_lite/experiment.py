"""Turns registry names from the command line into a problem, a model class and hparams.

Everything a user can mistype is resolved here, before any file is written, so a wrong
name or hparam fails with one line and leaves output_dir untouched.
"""
from t2t_lite import registry, usr_dir


def load_registrations(t2t_usr_dir=None):
  """Imports the built-in problems, models, hparams sets, optimizers and schedules, then
  the user's directory."""
  # pylint: disable=unused-import,import-outside-toplevel
  import t2t_lite.hparams  # noqa: F401
  import t2t_lite.models  # noqa: F401
  import t2t_lite.problems  # noqa: F401
  from t2t_lite.training import learning_rate, optimizers  # noqa: F401
  usr_dir.import_usr_dir(t2t_usr_dir)


def resolve(problem_name, model_name, hparams_set, hparams_overrides=""):
  """(problem instance, model class, hparams) with the overrides applied and checked."""
  problem = registry.problem(problem_name)
  model_cls = registry.model(model_name)
  hparams = registry.hparams(hparams_set)
  hparams.parse(hparams_overrides)
  # Validate names inside hparams now rather than at the first training step.
  from t2t_lite.training import learning_rate  # noqa: WPS433
  learning_rate.parse_schedule(hparams.learning_rate_schedule)
  registry.optimizers.get(hparams.optimizer)
  model_cls.validate_hparams(hparams)
  return problem, model_cls, hparams
