"""A search's report from a real SQLite study and eval summaries as the trainer writes them:
pruned and failed trials included, best first, the progress, importances, a valid PNG."""
import csv
import json
import os

import tensorflow as tf
from optuna.trial import TrialState

from t2t_lite.sweep import ranges, search_report, spec
from t2t_lite.sweep import study as study_lib
from tests.sweep.test_report import _write_evals

LR, LAYERS = "hparams.learning_rate_constant", "hparams.num_hidden_layers"
SPACE = {LR: ranges.Range(LR, 0.001, 100.0, ranges.LOG_SCALE),
         LAYERS: ranges.Range(LAYERS, choices=[1, 2])}


def _study(tmp_path):
  """Trial 0 finished (-2.5), 1 pruned at step 10, 2 finished (-2.1), 3 failed, 4 rejected
  before start, 5 finished (-2.3); the curves in their folders."""
  spec_ = {"fingerprint": "f", "sweep_file": "s.toml", "metric": "neg_log_perplexity",
           "direction": "maximize", "pruner": "median", "pruner_options": {},
           "train_steps": 20}
  search = spec.Search("random", {}, "median", {}, 6, 1, "neg_log_perplexity", None, SPACE)
  study = study_lib.open_study(study_lib.open_storage(f"sqlite:///{tmp_path}/study.db"), "s",
                               spec_, sampler=study_lib.make_sampler(search))
  outcomes = [("finished", -2.5), ("pruned", -300.0), ("finished", -2.1), ("failed", None),
              ("rejected", None), ("finished", -2.3)]
  for state, value in outcomes:
    trial = study.ask()
    overrides = study_lib.suggest(trial, SPACE)
    folder = f"{trial.number:04d}-{spec.trial_name(overrides)}"
    if state == "rejected":
      trial.set_user_attr(study_lib.REJECTED, "hidden_size=30 must be divisible by num_heads=4")
      study.tell(trial, state=TrialState.FAIL)
      continue
    trial.set_user_attr(study_lib.OVERRIDES, overrides)
    trial.set_user_attr(study_lib.FOLDER, folder)
    steps = [10] if state == "pruned" else [10, 20]
    if value is not None:
      _write_evals(str(tmp_path / folder), [(s, {"neg_log_perplexity": value - (20 - s) / 100,
                                                "accuracy": 0.5}) for s in steps])
      trial.report(value - 0.1, 10)
    if state == "finished":
      study.tell(trial, value)
    elif state == "pruned":
      trial.set_user_attr(study_lib.PRUNED, "pruned by the Median pruner: ...")
      study.tell(trial, state=TrialState.PRUNED)
    else:
      trial.set_user_attr(study_lib.ERROR, "error: the loss was not finite")
      study.tell(trial, state=TrialState.FAIL)
  return study


def test_the_report_of_a_search(tmp_path):
  study = _study(tmp_path)
  paths = search_report.write(str(tmp_path), study,
                              lambda n, o, f: ["t2t-trainer", f"--output_dir={f}"])
  with open(paths[0]) as f:
    rows = list(csv.DictReader(f))
  # Finished best first, then the pruned one, then the failed one; the rejected sample is
  # not a row.
  assert [(r["trial"], r["status"]) for r in rows] == [
      ("2", "finished"), ("5", "finished"), ("0", "finished"), ("1", "pruned"), ("3", "failed")]
  assert list(rows[0])[:4] == ["trial", "status", LR, LAYERS]
  assert rows[3]["step"] == "10" and rows[3]["note"] == "pruned by the Median pruner: ..."
  assert rows[4]["note"] == "error: the loss was not finite" and rows[4]["step"] == "0"
  by_trial = {r["trial"]: r["best_so_far"] for r in rows}
  assert [by_trial[n] for n in "01235"] == ["-2.5", "-2.5", "-2.1", "-2.1", "-2.1"]
  md = open(paths[1]).read()
  assert md.startswith("# Search: study 's', neg_log_perplexity (maximize), median pruner")
  assert "5 trials: 3 finished, 1 pruned, 1 failed; 1 sample(s) rejected before start." in md
  assert "Best: trial 2, neg_log_perplexity -2.1 (" in md
  assert "| 1 | pruned | -300.1 | -2.5 |" in md  # progress: its last reported value
  assert "For neg_log_perplexity: PED-ANOVA (Optuna's default evaluator) over 3 finished" in md
  assert "| hparams.learning_rate_constant | " in md
  assert "- hidden_size=30 must be divisible by num_heads=4" in md
  image = tf.io.decode_png(tf.io.read_file(paths[2]))
  assert image.shape[0] > 300 and image.shape[1] > 1000
  trials = json.load(open(os.path.join(tmp_path, "trials.json")))
  assert [t["number"] for t in trials] == [0, 1, 2, 3, 5]
  assert trials[0]["command"] == ["t2t-trainer", f"--output_dir={trials[0]['folder']}"]
