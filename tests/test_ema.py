"""The exponential moving average of the weights: hand-computed after 3 steps, kept in
checkpoints, swapped in for evaluation, loaded for decoding, averaged with checkpoints."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import ema, registry
from t2t_lite.decoding import decoder
from t2t_lite.errors import UserError
from t2t_lite.training import averaging
from t2t_lite.training.train_step import TrainStep
from t2t_lite.training.trainer import build_model
from tests.training.test_reliability import POISONED, PoisonedTransformer
from tests.training.tiny_step import iterator, make_step, random_batch

DECAY = 0.15


def _step_with_ema(decay=DECAY, model_cls=None):
  """(model, TrainStep updating an EMA, the EMA) of tiny_step's transformer (or of
  model_cls, with the same hparams and weights)."""
  model, plain = make_step()
  optimizer = plain.optimizer
  if model_cls is not None:
    other = build_model(model_cls, plain.hparams)
    other.build_from_features(other.dummy_features())
    for a, b in zip(other.variables, model.variables):
      a.assign(b)
    model, optimizer = other, keras.optimizers.SGD(learning_rate=0.1)
    optimizer.build(model.trainable_variables)
  averages = ema.ExponentialMovingAverage(model.trainable_variables, decay)
  step = TrainStep(tf.distribute.get_strategy(), model, optimizer, plain.hparams,
                   plain.global_step, 10, ema=averages)
  return model, step, averages


def _weights(model):
  return [v.numpy().copy() for v in model.trainable_variables]


def test_ema_equals_a_hand_computed_average_after_3_steps():
  model, step, averages = _step_with_ema()
  rng = np.random.default_rng(0)
  batches = iterator([random_batch(rng, 4, 6, 5) for _ in range(3)])
  expected = _weights(model)  # the average starts at the initial weights
  for n in range(3):
    step.run(batches, tf.constant(1))
    decay = min(DECAY, (1 + n) / (10 + n))  # tf.train.ExponentialMovingAverage's rule
    expected = [a - (1 - decay) * (a - w) for a, w in zip(expected, _weights(model))]
  assert int(averages.state.updates.numpy()) == 3
  for a, e in zip(averages.averages, expected):
    np.testing.assert_allclose(a.numpy(), e, rtol=1e-6, atol=1e-7)
  assert not np.allclose(expected[0], _weights(model)[0])  # it lags the weights


def test_a_skipped_step_leaves_the_average():
  POISONED.assign(0)
  model, step, averages = _step_with_ema(model_cls=PoisonedTransformer)
  rng = np.random.default_rng(1)
  step.run(iterator([random_batch(rng, 4, 6, 5)]), tf.constant(1))
  before = [a.numpy().copy() for a in averages.averages]
  POISONED.assign(1)  # a NaN loss: no update
  step.run(iterator([random_batch(rng, 4, 6, 5)]), tf.constant(1))
  assert int(step.nonfinite_total.numpy()) == 1
  for a, b in zip(averages.averages, before):
    np.testing.assert_array_equal(a.numpy(), b)
  assert int(averages.state.updates.numpy()) == 1


@pytest.fixture(scope="module")
def one_step():
  """(model, step, EMA) after one update; the tests that only read them share it."""
  model, step, averages = _step_with_ema()
  step.run(iterator([random_batch(np.random.default_rng(3), 4, 6, 5)]), tf.constant(1))
  return model, step, averages


def test_swapped_in_holds_the_averages_and_then_the_weights_again(one_step):
  model, step, averages = one_step
  raw = _weights(model)
  with averages.swapped_in():
    for v, a in zip(model.trainable_variables, averages.averages):
      np.testing.assert_array_equal(v.numpy(), a.numpy())
  for v, w in zip(model.trainable_variables, raw):
    np.testing.assert_array_equal(v.numpy(), w)


def test_decoding_restores_the_averages_unless_raw_weights(one_step, tmp_path):
  model, step, averages = one_step
  # (save, not write: as the trainer's checkpoints, it holds the save counter too)
  path = tf.train.Checkpoint(model=model, **step.checkpoint_state()).save(
      str(tmp_path / "model.ckpt"))
  assert ema.has_averages(path)
  cls = registry.model("transformer")
  averaged = decoder.restored_model(cls, step.hparams, path)
  raw = decoder.restored_model(cls, step.hparams, path, raw_weights=True)
  for a, r, avg, w in zip(averaged.trainable_variables, raw.trainable_variables,
                          averages.averages, model.trainable_variables):
    np.testing.assert_array_equal(a.numpy(), avg.numpy())
    np.testing.assert_array_equal(r.numpy(), w.numpy())
  plain = tf.train.Checkpoint(model=model).save(str(tmp_path / "plain"))
  assert not ema.has_averages(plain) and not ema.load_averages(raw, plain)


def test_checkpoint_averaging_averages_the_averages_too(tmp_path):
  model, step, averages = _step_with_ema()
  rng = np.random.default_rng(4)
  checkpoint = tf.train.Checkpoint(model=model, **step.checkpoint_state())
  paths = []
  for n in range(2):
    step.run(iterator([random_batch(rng, 4, 6, 5)]), tf.constant(1))
    paths.append(checkpoint.write(str(tmp_path / f"model.ckpt-{n + 1}")))
  out = str(tmp_path / "avg" / "model.ckpt-2")
  names = averaging.average(paths, out)
  assert any(n.startswith("ema/averages/") for n in names)
  readers = [tf.train.load_checkpoint(p) for p in paths + [out]]
  for name in (n for n in names if n.startswith("ema/averages/")):
    np.testing.assert_allclose(readers[2].get_tensor(name), (readers[0].get_tensor(name) +
                                                             readers[1].get_tensor(name)) / 2,
                               rtol=1e-6, atol=1e-7)
  assert os.path.exists(out + ".index")


def test_ema_decay_is_an_engine_hparam_off_by_default():
  hp = registry.hparams("transformer_tiny")
  assert hp.ema_decay == 0.0
  with pytest.raises(UserError, match="ema_decay=1.0 must be < 1"):
    registry.model("transformer").validate_hparams(hp.parse("ema_decay=1.0"))
