"""The Optuna side of a [search] on real SQLite studies: per-trial seeding, suggestions on
every scale, the budget, retries of interrupted and silent trials, the study's identity,
pruner defaults and importances."""
import math
import time

import optuna
import pytest
from optuna.trial import TrialState

from t2t_lite.errors import UserError
from t2t_lite.sweep import ranges, spec, validate
from t2t_lite.sweep import study as study_lib

LR = "hparams.learning_rate_constant"


@pytest.fixture(autouse=True)
def _quiet():
  study_lib.quiet()


def _search(sampler="tpe", seed=5, pruner="median", pruner_options=None, **space):
  space = space or {LR: ranges.Range(LR, 0.001, 100.0, ranges.LOG_SCALE)}
  return spec.Search(sampler, {}, pruner, pruner_options or {}, 6, seed,
                     "neg_log_perplexity", None, space)


def _spec(fingerprint="a", **extra):
  return {"fingerprint": fingerprint, "sweep_file": "s.toml", "metric": "neg_log_perplexity",
          "direction": "maximize", "pruner": "median", "pruner_options": {},
          "train_steps": 20, **extra}


def _storage(tmp_path, **kwargs):
  return study_lib.open_storage(f"sqlite:///{tmp_path}/study.db", **kwargs)


def _draws(study, search, n):
  out = []
  for _ in range(n):
    trial = study.ask()
    out.append(study_lib.suggest(trial, search.ranges)[LR])
  return out


@pytest.mark.parametrize("sampler", ["tpe", "cmaes", "random"])
def test_each_trial_draws_with_its_own_seed(tmp_path, sampler):
  search = _search(sampler)
  one = optuna.create_study(sampler=study_lib.make_sampler(search))
  alone = _draws(one, search, 3)
  # Two workers on one study (each with its own sampler, as in two processes), and a
  # restarted worker: the same trial numbers draw the same values, never a repeat.
  storage = _storage(tmp_path)
  shared = study_lib.open_study(storage, "s", _spec(), sampler=study_lib.make_sampler(search))
  other = optuna.load_study(study_name="s", storage=storage,
                            sampler=study_lib.make_sampler(search))
  mixed = _draws(shared, search, 1) + _draws(other, search, 1) + _draws(shared, search, 1)
  assert mixed == alone and len(set(alone)) == 3
  assert all(0.001 <= x <= 100.0 for x in alone)
  assert _draws(optuna.create_study(sampler=study_lib.make_sampler(_search(sampler, seed=6))),
                search, 1) != alone[:1]


def test_suggestions_on_every_scale():
  space = {
      "hparams.lr": ranges.Range("lr", 0.01, 1.0, ranges.LOG_SCALE),
      "hparams.beta2": ranges.Range("beta2", 0.01, 1.0, ranges.REVERSE_LOG_SCALE),
      "hparams.layers": ranges.Range("layers", 1, 8, ranges.LOG_SCALE, int),
      "hparams.width": ranges.Range("width", 32, 64, kind=int),
      "hparams.pos": ranges.Range("pos", choices=["timing", "none"]),
  }
  study = optuna.create_study(sampler=study_lib.make_sampler(_search("random", **space)))
  draws = []
  for _ in range(200):
    trial = study.ask()
    draws.append(study_lib.suggest(trial, space))
    assert set(trial.params) == {"hparams.lr", "hparams.beta2@reverse_log", "hparams.layers",
                                 "hparams.width", "hparams.pos"}
  assert all(0.01 <= d["hparams.beta2"] <= 1.0 for d in draws)
  assert sum(d["hparams.beta2"] > 0.8 for d in draws) > 110  # dense near the top (66%)
  assert all(isinstance(d["hparams.layers"], int) and 1 <= d["hparams.layers"] <= 8
             for d in draws)
  assert sum(d["hparams.layers"] <= 2 for d in draws) > 60  # log scale: small values often
  assert {d["hparams.pos"] for d in draws} == {"timing", "none"}
  assert study_lib.param_key("hparams.beta2@reverse_log") == "hparams.beta2"


def _finished(study, state, **attrs):
  trial = study.ask()
  for k, v in attrs.items():
    trial.set_user_attr(k, v)
  if state == TrialState.COMPLETE:
    study.tell(trial, -2.5)
  else:
    study.tell(trial, state=state)
  return trial.number


def test_the_budget_counts_trained_trials_only(tmp_path):
  study = study_lib.open_study(_storage(tmp_path), "s", _spec())
  ok = _finished(study, TrialState.COMPLETE)
  pruned = _finished(study, TrialState.PRUNED)
  failed = _finished(study, TrialState.FAIL, error="loss was not finite")
  _finished(study, TrialState.FAIL, rejected="hidden_size=30 must be divisible by num_heads=4")
  _finished(study, TrialState.FAIL, surplus="asked beyond the budget")
  running = study.ask().number
  interrupted = study.ask()
  interrupted.set_user_attr(study_lib.FOLDER, "0007-x")
  study_lib.requeue(study, study.get_trials()[-1])
  study.tell(interrupted, state=TrialState.FAIL)
  counted = {t.number: t.state for t in study_lib.counted(study.get_trials())}
  queued = max(counted)
  assert counted == {ok: TrialState.COMPLETE, pruned: TrialState.PRUNED,
                     failed: TrialState.FAIL, running: TrialState.RUNNING,
                     queued: TrialState.WAITING}


def test_a_requeued_trial_keeps_its_params_bindings_and_folder(tmp_path):
  search = _search()
  study = study_lib.open_study(_storage(tmp_path), "s", _spec(),
                               sampler=study_lib.make_sampler(search))
  first = study.ask()
  overrides = study_lib.suggest(first, search.ranges)
  first.set_user_attr(study_lib.OVERRIDES, overrides)
  first.set_user_attr(study_lib.FOLDER, "0000-lr")
  first.set_user_attr(study_lib.WORKER, "a:1")
  study_lib.requeue(study, study.get_trials()[0])
  study.tell(first, state=TrialState.FAIL)
  retry = study.ask()  # Optuna hands a queued trial to exactly one asker
  assert retry.number == 1 and retry.params == first.params
  assert retry.user_attrs == {study_lib.OVERRIDES: overrides, study_lib.FOLDER: "0000-lr",
                              study_lib.RETRY_OF: 0}
  study_lib.requeue(study, study.get_trials()[1])
  study.tell(retry, state=TrialState.FAIL)
  again = study.get_trials()[2]
  assert again.system_attrs["retry_history"] == [0, 1] and again.user_attrs["retry_of"] == 0


def test_trials_of_a_silent_worker_are_queued_again(tmp_path):
  storage = _storage(tmp_path, heartbeat_secs=1)
  study = study_lib.open_study(storage, "s", _spec())
  trial = study.ask()
  trial.suggest_float(LR, 0.1, 1.0)
  trial.set_user_attr(study_lib.FOLDER, "0000-lr")
  trial_id = storage.get_trial_id_from_study_id_trial_number(
      storage.get_study_id_from_name("s"), trial.number)
  storage.record_heartbeat(trial_id)
  optuna.storages.fail_stale_trials(study)
  assert study.get_trials()[0].state == TrialState.RUNNING  # beat recently: alive
  time.sleep(4.2)  # three missed beats (SQLite's clock has whole seconds)
  optuna.storages.fail_stale_trials(study)
  trials = study.get_trials()
  assert trials[0].state == TrialState.FAIL
  assert trials[1].state == TrialState.WAITING and trials[1].params == trials[0].params
  assert trials[1].user_attrs == {study_lib.FOLDER: "0000-lr", study_lib.RETRY_OF: 0}


def test_a_study_refuses_another_search(tmp_path):
  storage = _storage(tmp_path)
  study_lib.open_study(storage, "s", _spec("a"))
  assert study_lib.open_study(storage, "s", _spec("a")).user_attrs["t2t_sweep"]["metric"] == \
      "neg_log_perplexity"
  with pytest.raises(UserError, match="study 's' was made by another search .*s.toml.*another "
                                      "--study_name"):
    study_lib.open_study(storage, "s", _spec("b"))
  assert study_lib.load_study(storage, "nothing") is None


def test_fingerprint_covers_the_search_not_its_budget(tmp_path):
  path = tmp_path / "s.toml"
  text = """
[base]
experiment.problem = "algorithmic_reverse_decimal40"
[search]
trials = {trials}
metric = "accuracy"
learning_rate_constant = {{min = 0.1, max = {high}}}
"""
  path.write_text(text.format(trials=4, high=1.0))
  first = study_lib.fingerprint(spec.load(str(path)))
  path.write_text(text.format(trials=40, high=1.0))
  assert study_lib.fingerprint(spec.load(str(path))) == first
  path.write_text(text.format(trials=4, high=2.0))
  assert study_lib.fingerprint(spec.load(str(path))) != first
  assert study_lib.fingerprint(spec.load(str(path)), extra_params=["Trainer.seed = 2"]) != \
      study_lib.fingerprint(spec.load(str(path)))


def test_pruner_resources_default_to_the_trials_evaluations():
  checked = validate.Checked(3000, "p", ("accuracy",), 500)
  hyperband = study_lib.pruner_options(_search(pruner="hyperband"), checked)
  assert hyperband == {"min_resource": 500, "max_resource": 3000}
  assert isinstance(study_lib.make_pruner("hyperband", hyperband),
                    optuna.pruners.HyperbandPruner)
  halving = study_lib.pruner_options(_search(pruner="successive_halving",
                                             pruner_options={"reduction_factor": 2}), checked)
  assert halving == {"min_resource": 500, "reduction_factor": 2}
  assert study_lib.pruner_options(_search(pruner="median"), checked) == {}
  assert isinstance(study_lib.make_pruner("none", {}), optuna.pruners.NopPruner)
  with pytest.raises(UserError, match="min_resource 5000 > max_resource 3000"):
    study_lib.pruner_options(_search(pruner="hyperband",
                                     pruner_options={"min_resource": 5000}), checked)


def test_importances_rank_the_hparam_that_matters(tmp_path):
  space = {"hparams.a": ranges.Range("a", 0.0, 1.0), "hparams.b": ranges.Range("b", 0.0, 1.0)}
  study = study_lib.open_study(_storage(tmp_path), "s", _spec(),
                               sampler=study_lib.make_sampler(_search("random", **space)))
  assert study_lib.importances(study) == ({}, "needs 2 or more finished trials (has 0)")
  for _ in range(30):
    trial = study.ask()
    values = study_lib.suggest(trial, space)
    study.tell(trial, -abs(values["hparams.a"] - 0.3) + 0.001 * values["hparams.b"])
  found, how = study_lib.importances(study)
  assert list(found)[0] == "hparams.a" and found["hparams.a"] > 0.7
  assert math.isclose(sum(found.values()), 1.0) and "PED-ANOVA" in how


def test_storage_mistakes_are_one_line():
  with pytest.raises(UserError, match="is not a database URL"):
    study_lib.open_storage("not a url")
  with pytest.raises(UserError, match="is not a database URL .*postgresql\\+psycopg://"):
    study_lib.open_storage("nosuchdb://x/y")
  # A driver that is not installed (or, where it is, a server that is not there).
  with pytest.raises(UserError, match="needs the database driver 'MySQLdb'|cannot open"):
    study_lib.open_storage("mysql+mysqldb://u@127.0.0.1:1/db", attempts=1)
  with pytest.raises(UserError, match="cannot open the study database postgresql\\+psycopg://"
                                      "u:\\*\\*\\*@127.0.0.1:1/db"):
    study_lib.open_storage("postgresql+psycopg://u:secret@127.0.0.1:1/db", attempts=1)
