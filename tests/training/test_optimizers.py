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


def test_fused_adam_makes_keras_adams_updates():
  # The fused kernel against Keras's own Adam: same weights and slots after three steps
  # of different gradients. (Under a strategy, the trainer's tests on mirrored logical
  # CPUs and parameter servers train with it.)
  import keras
  import numpy as np
  rng = np.random.default_rng(0)
  start = [rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(5,)).astype("float32")]
  grads = [[rng.normal(size=w.shape).astype("float32") for w in start] for _ in range(3)]
  results = []
  for cls in (keras.optimizers.Adam, optimizers.FusedAdam):
    weights = [keras.Variable(w) for w in start]
    optimizer = cls(learning_rate=0.01, beta_1=0.9, beta_2=0.98, epsilon=1e-6)
    optimizer.build(weights)
    step = _compiled_apply(optimizer, weights)
    for g in grads:
      step([tf.constant(x) for x in g])
    results.append([v.numpy() for v in weights + optimizer.variables if v.dtype == "float32"])
  assert len(results[1]) == len(results[0]) > 2
  for fused, reference in zip(results[1], results[0]):
    np.testing.assert_allclose(fused, reference, rtol=1e-6, atol=1e-7)


def _compiled_apply(optimizer, weights):
  # (A closure: tf.function would take variables given as default arguments for inputs.)
  return tf.function(lambda grads: optimizer.apply_gradients(zip(grads, weights)))
