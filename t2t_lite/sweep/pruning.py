"""A search trial's side in t2t-trainer: report each evaluation to the study, stop when the
study's pruner says so.

t2t-sweep binds `study_trial.*` in every trial's command, so the trainer knows which trial
of which study it is; a run without them reports nothing. The metric and the pruner come
from the study itself (its `t2t_sweep` attribute, study.py), so every trial is judged the
same way. A pruned trial stops right after the evaluation that judged it (its checkpoint is
already written), logs why, and is marked pruned in the study.
"""
import gin

from t2t_lite import options
from t2t_lite.errors import UserError
from t2t_lite.options import setting
from t2t_lite.training.trainer import EvaluationListener


@options.group("study_trial")
class StudyTrialOptions(options.Options):
  """Which trial of a t2t-sweep search a run is (t2t-sweep binds these in each trial's
  command; gin only)."""
  storage: str | None = setting(None, "The study's database URL.", flag="")
  study_name: str | None = setting(None, "The study's name.", flag="")
  trial_number: int | None = setting(None, "The trial's number in the study.", flag="",
                                     minimum=0)


def configured() -> StudyTrialOptions | None:
  """The run's study_trial.* bindings, None when there are none: a run outside a search
  does not make the group, so its config.gin (what gin saw made) stays without it."""
  for name, _, _, _ in StudyTrialOptions.declarations():
    try:
      gin.query_parameter(f"{StudyTrialOptions.gin_name}.{name}")
    except ValueError:  # not bound
      continue
    return StudyTrialOptions.from_config()
  return None


def listeners(trial_options: StudyTrialOptions | None, log) -> list[EvaluationListener]:
  """[a PruningListener] when this run is a trial of a search, else []."""
  if trial_options is None or not trial_options.storage:
    return []
  missing = [n for n in ("study_name", "trial_number") if getattr(trial_options, n) is None]
  if missing:
    raise UserError("study_trial.storage is set but not " + ", ".join(
        f"study_trial.{n}" for n in missing) + " (t2t-sweep sets all three)")
  # Optuna and SQLAlchemy (about a second to import) only for runs that are search trials.
  # pylint: disable=import-outside-toplevel
  from t2t_lite.sweep import pruning_listener
  return pruning_listener.make(trial_options, log)
