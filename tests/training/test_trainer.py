"""The training loop in-process, on a small generated problem."""
import os

import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import experiment
from t2t_lite.training import run_dir
from t2t_lite.training.trainer import Trainer, TrainerOptions

TINY = ("batch_size=256,hidden_size=32,filter_size=64,num_heads=2,num_hidden_layers=1,"
        "learning_rate_warmup_steps=10")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  from t2t_lite.problems import algorithmic
  d = str(tmp_path_factory.mktemp("data"))
  cls = algorithmic.AlgorithmicProblem
  old = cls.train_size, cls.dev_size
  cls.train_size, cls.dev_size = 3000, 200
  try:
    experiment.resolve("algorithmic_reverse_decimal40", "transformer",
                       "transformer_tiny")[0].generate_data(d, log=lambda *a: None)
  finally:
    cls.train_size, cls.dev_size = old
  return d


def _trainer(data_dir, out, overrides="", steps=6, **kwargs):
  problem, model_cls, hp = experiment.resolve("algorithmic_reverse_decimal40", "transformer",
                                              "transformer_tiny", TINY + overrides)
  problem.update_hparams(hp, data_dir)
  run_dir.prepare(out, {"problem": problem.name, "model": "transformer"}, hp)
  logs = []
  trainer = Trainer(problem, model_cls, hp, out, data_dir, TrainerOptions(
      train_steps=steps, eval_steps=3, local_eval_frequency=3, log_step_count_steps=2,
      seed=1, **kwargs), log=logs.append)
  return trainer, logs


@pytest.mark.parametrize("optimizer", ["adam", "adafactor"])
def test_trains_checkpoints_and_evaluates(data_dir, tmp_path, optimizer):
  out = str(tmp_path / optimizer)
  trainer, logs = _trainer(data_dir, out, f",optimizer={optimizer}")
  before = [v.numpy().copy() for v in trainer.model.trainable_variables]
  results = trainer.train_and_evaluate()
  assert set(results) == {"accuracy", "accuracy_per_sequence", "neg_log_perplexity"}
  assert all(np.isfinite(v) for v in results.values())
  after = [v.numpy() for v in trainer.model.trainable_variables]
  assert any(not np.array_equal(a, b) for a, b in zip(before, after))
  assert int(trainer.global_step.numpy()) == 6
  assert sum("eval at step" in l for l in logs) == 2  # at steps 3 and 6
  assert any(l.startswith("step 2/6  loss") and "steps/s" in l and "ETA" in l for l in logs)
  assert tf.train.latest_checkpoint(out).endswith("model.ckpt-6")
  assert any(f.startswith("events.out") for f in os.listdir(out))
  assert any(f.startswith("events.out") for f in os.listdir(os.path.join(out, "eval")))


def test_logged_loss_does_not_depend_on_how_calls_split_the_steps(data_dir, tmp_path,
                                                                   monkeypatch):
  # Calls are sized by the clock. The logged loss is per token over all steps since the
  # last log, so one call per step and one call per window log the same curve. Each step
  # here reports a loss sum equal to its number over 2 tokens: the window (4, 6] logs 2.75.
  from t2t_lite.training import trainer as trainer_module
  curves = []
  for seconds_per_call in (1e9, 0.0):
    monkeypatch.setattr(trainer_module, "SECONDS_PER_CALL", seconds_per_call)
    trainer, logs = _trainer(data_dir, str(tmp_path / str(seconds_per_call)))
    run_steps, calls = trainer.runner.run_steps, []

    def numbered_steps(step_fn, iterator, num_steps, run_steps=run_steps, calls=calls,
                       trainer=trainer):
      first = int(trainer.global_step.numpy()) + 1
      run_steps(step_fn, iterator, num_steps)
      calls.append(num_steps)
      return float(sum(range(first, first + num_steps))), 2.0 * num_steps
    monkeypatch.setattr(trainer.runner, "run_steps", numbered_steps)
    trainer.train()
    curves.append([l.split("  ")[1] for l in logs if l.startswith("step ")])
    assert calls == ([2, 1, 1, 2] if seconds_per_call else [2, 1, 1, 1, 1]), calls
  assert curves[0] == curves[1] == ["loss 0.7500", "loss 1.7500", "loss 2.7500"]


def test_restore_continues_the_step_and_keeps_checkpoint_max(data_dir, tmp_path):
  out = str(tmp_path / "run")
  trainer, _ = _trainer(data_dir, out, steps=9, keep_checkpoint_max=2)
  trainer.restore()
  trainer.train()
  weights = [v.numpy() for v in trainer.model.trainable_variables]
  again, logs = _trainer(data_dir, out, steps=12, keep_checkpoint_max=2)
  assert again.restore() == 9
  for a, b in zip(weights, again.model.trainable_variables):
    np.testing.assert_array_equal(a, b.numpy())
  assert int(again.optimizer.iterations.numpy()) == 9
  again.train()
  index_files = sorted(f for f in os.listdir(out) if f.endswith(".index"))
  assert index_files == ["model.ckpt-12.index", "model.ckpt-9.index"]


def test_continuous_eval_evaluates_the_final_checkpoint(data_dir, tmp_path):
  out = str(tmp_path / "run")
  trainer, _ = _trainer(data_dir, out, steps=3)
  trainer.train()
  evaluator, logs = _trainer(data_dir, out, steps=3)
  results = evaluator.continuous_eval(timeout_secs=1, poll_secs=0.1)
  assert "accuracy_per_sequence" in results and any("eval at step 3" in l for l in logs)


def test_model_only_restore_reproduces_the_trained_model(data_dir, tmp_path):
  """The decoder restores just the model from a trainer checkpoint: every variable must
  come back (Keras lists are invisible to tf.train.Checkpoint, which once lost layers)."""
  from t2t_lite import registry
  out = str(tmp_path / "run")
  trainer, _ = _trainer(data_dir, out, steps=3)
  trainer.train()
  fresh = registry.model("transformer")(trainer.hparams)
  fresh.build_from_features(trainer.model.dummy_features(trainer.problem.has_inputs))
  status = tf.train.Checkpoint(model=fresh).restore(tf.train.latest_checkpoint(out))
  status.expect_partial().assert_existing_objects_matched()
  assert len(fresh.variables) == len(trainer.model.variables)
  for a, b in zip(trainer.model.variables, fresh.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_state_kept_in_lists_still_reaches_checkpoints(tmp_path):
  import keras

  from t2t_lite import registry
  from t2t_lite.t2t_model import T2TModel

  class ListModel(T2TModel):
    def __init__(self, hparams):
      super().__init__(hparams)
      self.stack = [keras.layers.Dense(4), keras.layers.Dense(5)]

    def call(self, features, training=False):
      x = tf.one_hot(features["targets"], 5)
      for layer in self.stack:
        x = layer(x)
      return x

  hp = registry.hparams("transformer_tiny")
  features = {"targets": tf.ones([1, 2], tf.int32)}
  a, b = ListModel(hp), ListModel(hp)
  a.build_from_features(features)
  b.build_from_features(features)
  path = tf.train.Checkpoint(model=a).write(str(tmp_path / "ckpt"))
  tf.train.Checkpoint(model=b).read(path).assert_existing_objects_matched()
  for x, y in zip(a.variables, b.variables):
    np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_an_evaluation_listener_can_stop_training_and_checkpoint_its_state(data_dir, tmp_path):
  from t2t_lite.training.trainer import EvaluationListener

  class StopAfterFirst(EvaluationListener):
    def __init__(self):
      self.seen = tf.Variable(0, dtype=tf.int64)

    def after_evaluation(self, trainer, step, results):
      self.seen.assign_add(1)
      assert "accuracy" in results
      return "enough for this test"

    def checkpoint_state(self):
      return {"stop_after_first": self.seen}

  out = str(tmp_path / "run")
  problem, model_cls, hp = experiment.resolve("algorithmic_reverse_decimal40", "transformer",
                                              "transformer_tiny", TINY)
  problem.update_hparams(hp, data_dir)
  run_dir.prepare(out, {"problem": problem.name, "model": "transformer"}, hp)
  logs, listener = [], StopAfterFirst()
  trainer = Trainer(problem, model_cls, hp, out, data_dir, TrainerOptions(
      train_steps=9, eval_steps=1, local_eval_frequency=3, seed=1), log=logs.append,
      listeners=[listener])
  trainer.train_and_evaluate()
  assert int(trainer.global_step.numpy()) == 3 and trainer.stop_reason == "enough for this test"
  assert "stopping at step 3: enough for this test" in logs
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(out))
  assert any(k.startswith("stop_after_first") for k in reader.get_variable_to_shape_map())
