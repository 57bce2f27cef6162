"""TrainStep: the loss of a step, counting steps, skipping non-finite ones, clipping, and the
learning-rate gate that holds the weights of a skipped multi-replica step."""
import numpy as np
import tensorflow as tf

from t2t_lite import metrics
from t2t_lite.training import learning_rate
from tests.training.tiny_step import iterator, make_step, mean_loss, random_batch


def test_a_step_reports_the_loss_per_target_token_and_counts_itself():
  model, step = make_step()
  batch = random_batch(np.random.default_rng(0), 4, 5, 6)
  logits = model({k: tf.constant(v) for k, v in batch.items()}, training=False)
  loss_sum, tokens = metrics.smoothed_cross_entropy_sum(logits, tf.constant(batch["targets"]),
                                                        step.hparams.label_smoothing)
  loss = mean_loss(step.run(iterator([batch]), tf.constant(1)))
  np.testing.assert_allclose(loss, float(loss_sum / tokens), rtol=1e-5)  # no dropout
  assert int(step.global_step.numpy()) == 1
  step.run(iterator([batch]), tf.constant(2))
  assert int(step.global_step.numpy()) == int(step.optimizer.iterations.numpy()) == 3


def test_clipping_bounds_the_update_of_plain_sgd():
  import keras
  batch = random_batch(np.random.default_rng(1), 4, 5, 6)
  moved = {}
  for clip in (0.0, 1e-3):
    model, step = make_step(f"clip_grad_norm={clip}", keras.optimizers.SGD(learning_rate=1.0))
    before = [v.numpy().copy() for v in model.trainable_variables]
    step.run(iterator([batch]), tf.constant(1))
    moved[clip] = np.sqrt(sum(np.sum((v.numpy() - b) ** 2)
                              for v, b in zip(model.trainable_variables, before)))
  assert moved[1e-3] <= 1e-3 * (1 + 1e-4) < moved[0.0]  # SGD's step is the clipped gradient


def test_a_non_finite_step_changes_no_weight():
  model, step = make_step()
  batch = random_batch(np.random.default_rng(2), 4, 5, 6)
  model.trainable_variables[0].assign(model.trainable_variables[0] * np.inf)  # NaN loss
  before = [v.numpy().copy() for v in model.trainable_variables]
  step.run(iterator([batch]), tf.constant(1))
  assert int(step.nonfinite_run.numpy()) == 1 and int(step.nonfinite_total.numpy()) == 1
  assert int(step.global_step.numpy()) == 1 and int(step.optimizer.iterations.numpy()) == 0
  for v, b in zip(model.trainable_variables, before):
    np.testing.assert_array_equal(v.numpy(), b)


def test_the_schedule_is_multiplied_by_its_gate():
  _, step = make_step()
  schedule = learning_rate.FactorSchedule(step.hparams, 1000)
  rate = float(schedule(tf.constant(5)))
  assert rate > 0
  schedule.gate.assign(0.0)
  assert float(schedule(tf.constant(5))) == 0.0
