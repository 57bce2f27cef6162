"""Every registered optimizer is built from hparams and makes a step."""
import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.training import learning_rate, optimizers


@pytest.mark.parametrize("name", ["adam", "adafactor", "lamb", "lars"])
def test_each_optimizer_builds_from_hparams_and_steps(name):
  hp = registry.hparams("transformer_tiny").parse(
      f"optimizer={name},learning_rate_schedule=constant,learning_rate_constant=1.0")
  optimizer = optimizers.make_optimizer(hp, learning_rate.FactorSchedule(hp, 100))
  weights = tf.Variable(tf.ones([3, 2]))
  optimizer.build([weights])
  optimizer.apply_gradients([(tf.ones([3, 2]), weights)])
  assert float(tf.reduce_max(weights)) < 1.0
  assert int(optimizer.iterations.numpy()) == 1
