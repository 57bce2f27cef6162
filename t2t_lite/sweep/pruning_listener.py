"""The listener that reports a search trial's evaluations to its study and prunes it
(see pruning.py, which imports this module only for runs that are search trials)."""
import math
import statistics

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from t2t_lite.errors import UserError
from t2t_lite.sweep import study as study_lib
from t2t_lite.training.trainer import EvaluationListener


class PruningListener(EvaluationListener):
  """Reports each evaluation's metric to the trial; stops training when the pruner says so
  or when the trial is no longer this run's (another worker took it over)."""

  def __init__(self, trial, storage, trial_id, metric, log):
    self.trial, self.storage, self.trial_id = trial, storage, trial_id
    self.metric, self.log = metric, log
    self.study = trial.study

  def _finished_at(self, step):
    """How the finished trials did at `step`: what the value is judged against."""
    finished = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    values = [t.intermediate_values[step] for t in finished if step in t.intermediate_values
              and not math.isnan(t.intermediate_values[step])]
    if not values:
      return "no finished trial reported this step"
    best = max(values) if self.study.direction == StudyDirection.MAXIMIZE else min(values)
    return (f"{len(values)} finished trial(s) at this step: median "
            f"{statistics.median(values):.4g}, best {best:.4g}")

  def after_evaluation(self, trainer, step, results):
    state = self.storage.get_trial(self.trial_id).state
    if state != TrialState.RUNNING:
      return (f"trial {self.trial.number} of study '{self.study.study_name}' is "
              f"{state.name.lower()} now (another worker took it over); stopping")
    value = results.get(self.metric)
    if value is None:
      self.log(f"WARNING: evaluation at step {step} has no '{self.metric}'; not reported to "
               "the study")
      return None
    self.trial.report(float(value), step)
    # At the last evaluation the trial has finished: nothing is left to save by pruning it.
    if step >= trainer.options.train_steps or not self.trial.should_prune():
      return None
    pruner = type(self.study.pruner).__name__.removesuffix("Pruner")
    reason = (f"pruned by the {pruner} pruner: {self.metric} {value:.4g} at step {step}; "
              f"{self._finished_at(step)}")
    self.trial.set_user_attr(study_lib.PRUNED, reason)
    self.study.tell(self.trial, state=TrialState.PRUNED)
    return f"trial {self.trial.number} {reason}"


def make(trial_options, log):
  """[PruningListener] for the trial that trial_options (a trial_options.StudyTrialOptions)
  names; [] when that trial is not running (a finished trial's config.gin rerun)."""
  study_lib.quiet()
  storage = study_lib.open_storage(trial_options.storage)
  study = study_lib.load_study(storage, trial_options.study_name,
                               sampler=optuna.samplers.RandomSampler())
  where = (f"study '{trial_options.study_name}' in "
           f"{study_lib.shown_url(trial_options.storage)}")
  if study is None or study_lib.SPEC_ATTR not in study.user_attrs:
    raise UserError(f"no t2t-sweep {where}")
  spec = study.user_attrs[study_lib.SPEC_ATTR]
  study.pruner = study_lib.pruner_of(spec)
  try:
    trial_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(trial_options.study_name), trial_options.trial_number)
  except KeyError:
    raise UserError(f"{where} has no trial {trial_options.trial_number}") from None
  frozen = storage.get_trial(trial_id)
  if frozen.state != TrialState.RUNNING:
    log(f"trial {frozen.number} of {where} is {frozen.state.name.lower()}: this run does not "
        "report to it")
    return []
  log(f"reporting {spec['metric']} to trial {frozen.number} of {where} "
      f"(pruner: {spec['pruner']})")
  return [PruningListener(optuna.trial.Trial(study, trial_id), storage, trial_id,
                          spec["metric"], log)]
