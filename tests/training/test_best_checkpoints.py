"""Best checkpoints and early stopping as evaluation listeners, on metrics of either
direction, with their state surviving a restart."""
import json
import os

import pytest
import tensorflow as tf

from t2t_lite import metrics, registry
from t2t_lite.decoding import decoder
from t2t_lite.errors import UserError
from t2t_lite.training import best_checkpoints, watched_metric
from t2t_lite.training.best_checkpoints import BestCheckpoints
from t2t_lite.training.early_stopping import EarlyStopping
from t2t_lite.training.watched_metric import WatchedMetric


def _save(output_dir, step):
  """A real (tiny) checkpoint model.ckpt-STEP in output_dir, holding the step."""
  v = tf.Variable(float(step))
  return tf.train.Checkpoint(v=v).write(os.path.join(output_dir, f"model.ckpt-{step}"))


def _run(listener, output_dir, values, start=100, every=100):
  """Tells `listener` of evaluations with `values` at steps start, start+every, ...;
  returns [(step, reason)]."""
  out = []
  for i, value in enumerate(values):
    step = start + i * every
    _save(output_dir, step)
    out.append((step, listener.after_evaluation(None, step, {listener.metric.name: value})))
  return out


def test_metric_directions_are_declared_with_the_metrics():
  assert watched_metric.direction("bleu") is True
  assert watched_metric.direction("wer") is False and watched_metric.direction("cer") is False
  assert watched_metric.direction("accuracy_per_sequence") is True
  assert watched_metric.direction("neg_log_perplexity") is True
  assert watched_metric.direction("translate_a/bleu") is True  # a mixture member's
  assert watched_metric.direction("nonsense") is None


def test_a_users_own_metrics_declare_their_direction():
  metrics.register_metric("test_edit_rate", lambda s: float(s["edits"]),
                          higher_is_better=False)
  decoder.register_decoded_metric("test_chrf", "test", lambda h, r: (1.0, "sig"),
                                  higher_is_better=True)
  try:
    assert watched_metric.direction("test_edit_rate") is False
    assert watched_metric.direction("test_chrf") is True
    assert metrics.finalize({"edits": 3.0}, ("test_edit_rate",)) == {"test_edit_rate": 3.0}
    with pytest.raises(UserError, match="opposite directions"):
      metrics.register_metric("test_edit_rate", lambda s: 0.0, higher_is_better=True)
  finally:
    del metrics.METRICS["test_edit_rate"], decoder.DECODED_METRICS["test_chrf"]


def test_best_metric_must_be_one_the_problem_reports():
  problem = registry.problem("translate_from_files")
  assert watched_metric.resolve("bleu", problem, 100) == WatchedMetric("bleu", True)
  with pytest.raises(UserError, match="did you mean bleu"):
    watched_metric.resolve("blue", problem, 100)
  with pytest.raises(UserError, match="set --eval_decode_samples above 0"):
    watched_metric.resolve("bleu", problem, 0)
  reverse = registry.problem("algorithmic_reverse_decimal40")
  with pytest.raises(UserError, match="reports accuracy, accuracy_per_sequence"):
    watched_metric.resolve("bleu", reverse, 100)


def test_improvement_needs_more_than_min_delta_in_the_metrics_direction():
  up, down = WatchedMetric("bleu", True, 0.5), WatchedMetric("wer", False, 0.01)
  assert up.improves(10.6, 10.0) and not up.improves(10.5, 10.0)
  assert down.improves(0.18, 0.2) and not down.improves(0.195, 0.2)
  assert up.improves(1.0, float("nan")) and not up.improves(float("nan"), 1.0)


def test_keeps_the_n_best_of_a_metric_that_peaks_and_falls(tmp_path):
  out = str(tmp_path)
  for name in ("run.json", "hparams.json"):
    (tmp_path / name).write_text("{}")
  logs = []
  keeper = BestCheckpoints(WatchedMetric("bleu", True), keep=2, output_dir=out,
                           log=logs.append)
  _run(keeper, out, [10.0, 30.0, 25.0, 31.0, 5.0])  # steps 100..500
  record = best_checkpoints.read_record(out)
  assert [(e["step"], e["bleu"]) for e in record["checkpoints"]] == [(400, 31.0), (200, 30.0)]
  best = os.path.join(out, "best")
  assert sorted(f for f in os.listdir(best) if f.endswith(".index")) == [
      "model.ckpt-200.index", "model.ckpt-400.index"]
  assert tf.train.latest_checkpoint(best).endswith("model.ckpt-400")
  # The copies are real checkpoints, and stay when the rolling ones are deleted.
  for step in (100, 200, 300, 400, 500):
    for f in tf.io.gfile.glob(os.path.join(out, f"model.ckpt-{step}.*")):
      os.remove(f)
  reader = tf.train.load_checkpoint(os.path.join(best, "model.ckpt-200"))
  assert reader.get_tensor("v/.ATTRIBUTES/VARIABLE_VALUE") == 200.0
  assert best_checkpoints.best_checkpoints(out)[0] == os.path.join(best, "model.ckpt-400")
  assert os.path.exists(os.path.join(best, "run.json"))  # best/ reads as a run
  assert "best bleu so far: 31.0000 at step 400" in logs[-1]


def test_a_lower_is_better_metric_and_a_reevaluated_or_abandoned_step(tmp_path):
  out = str(tmp_path)
  keeper = BestCheckpoints(WatchedMetric("wer", False), keep=1, output_dir=out)
  _run(keeper, out, [0.5, 0.3, 0.4])  # steps 100, 200, 300
  assert [e["step"] for e in best_checkpoints.read_record(out)["checkpoints"]] == [200]
  # A resumed run restored step 100 and evaluates step 200 anew (say it scores worse now):
  # the record of the abandoned timeline (steps >= 200) gives way.
  _run(keeper, out, [0.45], start=200)
  record = best_checkpoints.read_record(out)
  assert [(e["step"], e["wer"]) for e in record["checkpoints"]] == [(200, 0.45)]
  with pytest.raises(UserError, match="keeps the best checkpoints by wer, not bleu"):
    _run(BestCheckpoints(WatchedMetric("bleu", True), 1, out), out, [1.0], start=400)


def test_no_best_checkpoints_is_a_clear_error(tmp_path):
  with pytest.raises(UserError, match="holds no best checkpoints: train with --best_metric"):
    best_checkpoints.best_checkpoints(str(tmp_path))


def test_early_stopping_counts_evaluations_without_improvement(tmp_path):
  stopper = EarlyStopping(WatchedMetric("bleu", True, min_delta=0.5), patience=2,
                          log=lambda *_: None)
  results = _run(stopper, str(tmp_path), [10.0, 20.0, 20.4, 25.0, 24.0, 25.3])
  reasons = [(step, reason) for step, reason in results if reason]
  # 20.4 is within min_delta of 20.0; 24.0 and 25.3 (< 25.5) do not improve on 25.0.
  assert [step for step, _ in reasons] == [600]
  assert reasons[0][1] == ("early stopping: bleu did not improve by more than 0.5 on "
                           "25.0000 (step 400) in 2 evaluation(s)")
  assert (stopper.best, stopper.best_step, stopper.waited) == (25.0, 400, 2)


def test_early_stopping_state_is_checkpointed_and_restored(tmp_path):
  metric = WatchedMetric("wer", False)
  stopper = EarlyStopping(metric, patience=3, log=lambda *_: None)
  _run(stopper, str(tmp_path), [0.5, 0.4, 0.45])
  path = tf.train.Checkpoint(**stopper.checkpoint_state()).write(str(tmp_path / "state"))
  again = EarlyStopping(metric, patience=3, log=lambda *_: None)
  tf.train.Checkpoint(**again.checkpoint_state()).read(path).assert_consumed()
  assert (again.best, again.best_step, again.waited) == (0.4, 200, 1)


def test_record_is_json_with_the_metric_and_its_direction(tmp_path):
  out = str(tmp_path)
  _run(BestCheckpoints(WatchedMetric("accuracy", True), 3, out), out, [0.1, 0.2])
  with open(os.path.join(out, "best", "best.json")) as f:
    record = json.load(f)
  assert record["metric"] == "accuracy" and record["higher_is_better"] is True
  assert [e["path"] for e in record["checkpoints"]] == ["model.ckpt-200", "model.ckpt-100"]


def test_every_worker_learns_the_chiefs_decision_to_stop():
  """MultiWorkerRunner.agreed_stop over its all-gather (stubbed here; the collective itself
  runs on local clusters in tests/bin/test_distributed.py)."""
  from t2t_lite.training import runners

  class Worker(runners.MultiWorkerRunner):
    def __init__(self, flags):
      self.flags = flags  # what every worker passes to the all-gather

    def _gather(self, value):
      return self.flags

  chief_stops = [1, 0]
  assert Worker(chief_stops).agreed_stop("early stopping: ...") == "early stopping: ..."
  assert Worker(chief_stops).agreed_stop(None) == "the chief's evaluation ended training"
  assert Worker([0, 0]).agreed_stop(None) is None
  assert runners.Runner(tf.distribute.get_strategy()).agreed_stop("why") == "why"
