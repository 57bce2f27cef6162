"""The Runner of single-process strategies: the steps, evaluation sums, saves and summaries
the Trainer asks of it. (The multi-worker and parameter-server runners run in
tests/bin/test_distributed.py, on local clusters.)"""
import os

import numpy as np
import tensorflow as tf

from t2t_lite.training import cluster, runners, strategies
from t2t_lite.training.checkpoints import CheckpointKeeper
from tests.training.tiny_step import iterator, make_step, random_batch


def test_the_strategy_table_names_each_family_once():
  assert strategies.STRATEGIES["mirrored"].runner is runners.Runner
  assert strategies.STRATEGIES[cluster.MULTI_WORKER].runner is runners.MultiWorkerRunner
  assert strategies.STRATEGIES[cluster.PARAMETER_SERVER].runner is \
      runners.ParameterServerRunner
  assert set(strategies.LOCAL_STRATEGIES) < set(strategies.STRATEGIES)
  assert isinstance(strategies.make_runner("default"), runners.Runner)


def test_steps_evaluation_and_saves(tmp_path):
  model, step = make_step()
  runner = runners.Runner(tf.distribute.get_strategy())
  assert runner.is_chief
  batch = random_batch(np.random.default_rng(0), 4, 5, 6)
  loss_sum, tokens = runner.run_steps(step, iterator([batch]), 3)
  assert isinstance(loss_sum, float) and np.isfinite(loss_sum)
  assert tokens == 3 * float(np.sum(batch["targets"] != 0))
  assert int(step.global_step.numpy()) == 3

  eval_fn = runner.eval_fn(lambda features: {"rows": tf.cast(tf.shape(
      features["targets"])[0], tf.float32)})
  batches = list(runner.eval_batches(
      lambda context: tf.data.Dataset.from_tensors(batch).repeat(2)))
  assert [float(eval_fn(b)["rows"]) for b in batches] == [4.0, 4.0]

  keeper = CheckpointKeeper(tf.train.Checkpoint(model=model), str(tmp_path), 2,
                            log=lambda m: None)
  path = runner.save(keeper, 3)
  assert path.endswith("model.ckpt-3") and os.path.exists(path + ".index")
  assert runner.agreed_step(3, str(tmp_path)) == 3
  writer = runner.summary_writer(str(tmp_path / "summaries"))
  with writer.as_default(step=1):
    tf.summary.scalar("x", 1.0)
  writer.flush()
  assert os.listdir(tmp_path / "summaries")


def test_the_runner_describes_what_its_strategy_allows():
  allows = runners.Runner(tf.distribute.get_strategy()).allows
  assert allows.conditional_updates and allows.custom_ops
  assert allows.host_device == "/cpu:0" and not allows.host_placement_refused
  one_cpu = runners.Runner(tf.distribute.OneDeviceStrategy("/cpu:0")).allows
  assert one_cpu.conditional_updates and one_cpu.host_device is None
