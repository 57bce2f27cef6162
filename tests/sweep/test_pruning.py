"""A search trial's side in the trainer, on a real SQLite study: evaluations reported,
hopeless trials pruned with the reason, trials taken over by another worker stopped."""
import types

import optuna
import pytest
from optuna.trial import TrialState

from t2t_lite.errors import UserError
from t2t_lite.sweep import pruning, pruning_listener
from t2t_lite.sweep import study as study_lib
from t2t_lite.training.trainer import TrainerOptions
from t2t_lite.training.trial_options import StudyTrialOptions

METRIC = "neg_log_perplexity"
# What the listener reads of the Trainer that calls it.
TRAINER = types.SimpleNamespace(options=TrainerOptions(train_steps=30))


def _study(tmp_path, pruner="median", pruner_options=None):
  url = f"sqlite:///{tmp_path}/study.db"
  spec = {"fingerprint": "f", "sweep_file": "s.toml", "metric": METRIC,
          "direction": "maximize", "pruner": pruner,
          "pruner_options": pruner_options or {"startup_trials": 2}, "train_steps": 30}
  storage = study_lib.open_storage(url)
  study = study_lib.open_study(storage, "s", spec, pruner=study_lib.pruner_of(spec))
  for value in (-2.5, -2.4):  # two finished trials to judge against, reported as trainers do
    trial = study.ask()
    assert _listener(url, trial.number, []).after_evaluation(TRAINER, 10, {METRIC: value - 0.1}) \
        is None
    study.tell(trial, value)
  return url, study


def _listener(url, number, lines):
  found = pruning.listeners(StudyTrialOptions(storage=url, study_name="s",
                                                      trial_number=number), lines.append)
  assert len(found) == 1 and isinstance(found[0], pruning_listener.PruningListener)
  assert (found[0].metric, found[0].trial.number) == (METRIC, number)
  return found[0]


def test_reports_each_evaluation_and_prunes_a_hopeless_trial(tmp_path):
  url, study = _study(tmp_path)
  good, bad = study.ask().number, study.ask().number
  lines = []
  listener = _listener(url, good, lines)
  assert lines == [f"reporting {METRIC} to trial {good} of study 's' in {url} (pruner: median)"]
  assert listener.after_evaluation(TRAINER, 10, {METRIC: -2.3, "accuracy": 0.5}) is None
  reason = _listener(url, bad, lines).after_evaluation(TRAINER, 10, {METRIC: -350.0})
  assert reason == (f"trial {bad} pruned by the Median pruner: {METRIC} -350 at step 10; "
                    "2 finished trial(s) at this step: median -2.55, best -2.5")
  trials = study.get_trials()
  assert trials[good].state == TrialState.RUNNING and trials[good].intermediate_values == {
      10: -2.3}
  assert trials[bad].state == TrialState.PRUNED and trials[bad].value == -350.0
  assert trials[bad].user_attrs[study_lib.PRUNED] == reason.split(" ", 2)[2]
  # At the last evaluation a trial has finished: reported, never pruned.
  last = study.ask().number
  assert _listener(url, last, []).after_evaluation(TRAINER, 30, {METRIC: -350.0}) is None
  assert study.get_trials()[last].state == TrialState.RUNNING


def test_a_trial_another_worker_took_over_stops(tmp_path):
  url, study = _study(tmp_path)
  trial = study.ask()
  listener = _listener(url, trial.number, [])
  study.tell(trial, state=TrialState.FAIL)  # as fail_stale_trials does
  assert listener.after_evaluation(TRAINER, 10, {METRIC: -2.0}) == (
      f"trial {trial.number} of study 's' is fail now (another worker took it over); stopping")


def test_runs_that_are_not_running_trials_report_nothing(tmp_path):
  url, study = _study(tmp_path)
  assert pruning.listeners(StudyTrialOptions(), print) == []
  lines = []
  # A finished trial's config.gin, run again: trains, reports nothing.
  assert pruning.listeners(StudyTrialOptions(
      storage=url, study_name="s", trial_number=0), lines.append) == []
  assert lines == [f"trial 0 of study 's' in {url} is complete: this run does not report to it"]
  with pytest.raises(UserError, match="study_trial.storage is set but not "
                                      "study_trial.trial_number"):
    pruning.listeners(StudyTrialOptions(storage=url, study_name="s"), print)
  with pytest.raises(UserError, match="has no trial 9"):
    pruning.listeners(StudyTrialOptions(storage=url, study_name="s", trial_number=9),
                      print)
  with pytest.raises(UserError, match="no t2t-sweep study 'other'"):
    pruning.listeners(StudyTrialOptions(storage=url, study_name="other",
                                                trial_number=0), print)
  with pytest.raises(UserError, match="study_trial.trial_number=-1 must be >= 0"):
    StudyTrialOptions(trial_number=-1)


def test_the_pruner_comes_from_the_study(tmp_path):
  url, study = _study(tmp_path, "successive_halving",
                      {"min_resource": 10, "reduction_factor": 2})
  trial = study.ask()
  listener = _listener(url, trial.number, [])
  assert isinstance(listener.study.pruner, optuna.pruners.SuccessiveHalvingPruner)
  assert "SuccessiveHalving pruner" in listener.after_evaluation(TRAINER, 10, {METRIC: -99.0})
