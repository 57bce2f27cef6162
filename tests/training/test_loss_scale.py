"""The dynamic loss scale halves on an overflow, doubles after enough finite steps, and
stops at 1."""
import tensorflow as tf

from t2t_lite.training.loss_scale import DynamicLossScale

T, F = tf.constant(True), tf.constant(False)


def test_overflow_halves_and_growth_doubles():
  scale = DynamicLossScale(8.0, growth_steps=2)
  assert bool(scale.update(T, F))  # finite loss, non-finite gradients: an overflow
  assert float(scale.scale.numpy()) == 4.0
  assert not bool(scale.update(T, T)) and float(scale.scale.numpy()) == 4.0
  scale.update(T, T)
  assert float(scale.scale.numpy()) == 8.0 and int(scale.good_steps.numpy()) == 0
  assert float(scale.scale_loss(tf.constant(2.0))) == 16.0
  assert float(scale.unscale([tf.constant(16.0)])[0]) == 2.0


def test_at_scale_one_nothing_is_an_overflow_any_more():
  scale = DynamicLossScale(1.0, growth_steps=100)
  assert not bool(scale.update(T, F))  # a real failure: the trainer counts it
  assert not bool(scale.update(F, F)) and float(scale.scale.numpy()) == 1.0
