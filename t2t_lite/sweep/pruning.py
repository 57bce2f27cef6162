"""A search trial's side in t2t-trainer: report each evaluation to the study, stop when the
study's pruner says so.

t2t-sweep binds `study_trial.*` in every trial's command, so the trainer knows which trial
of which study it is; a run without them reports nothing. The metric and the pruner come
from the study itself (its `t2t_sweep` attribute, study.py), so every trial is judged the
same way. A pruned trial stops right after the evaluation that judged it (its checkpoint is
already written), logs why, and is marked pruned in the study.
"""
from t2t_lite.errors import UserError
from t2t_lite.training.trainer import EvaluationListener
from t2t_lite.training.trial_options import StudyTrialOptions


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
