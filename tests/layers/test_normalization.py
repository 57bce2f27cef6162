"""Global-batch normalization is Keras' own on one replica (the multi-replica case runs in
tests/models/test_conformance.py, which trains DeepSpeech2 on 2 replicas)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite.layers.normalization import GlobalBatchNormalization, LayerNormalization


def test_one_replica_equals_keras_batch_norm_with_and_without_a_mask():
  x = tf.random.stateless_normal([3, 5, 4], seed=[2, 3])
  mask = tf.sequence_mask([5, 2, 4], 5)
  ours, theirs = GlobalBatchNormalization(), keras.layers.BatchNormalization()
  for kwargs in ({}, {"mask": mask}):
    np.testing.assert_allclose(ours(x, training=True, **kwargs).numpy(),
                               theirs(x, training=True, **kwargs).numpy(), atol=1e-6)
  np.testing.assert_allclose(ours.moving_mean.numpy(), theirs.moving_mean.numpy(), atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_layer_normalization_equals_keras_in_value_and_gradients(dtype):
  # The closed-form gradient against autodiff through Keras's own layer: output and the
  # gradients of input, scale and offset (trained, non-trivial scale and offset).
  rng = np.random.default_rng(0)
  x = tf.constant(rng.normal(2.0, 3.0, size=(3, 5, 16)), tf.float32)
  upstream = tf.constant(rng.normal(size=(3, 5, 16)), tf.float32)
  scale, offset = rng.normal(1.0, 0.3, size=16), rng.normal(0.0, 0.3, size=16)
  results = []
  for cls in (keras.layers.LayerNormalization, LayerNormalization):
    layer = cls(epsilon=1e-6, dtype=keras.DTypePolicy(
        "float32" if dtype == "float32" else "mixed_bfloat16"))
    layer.build(x.shape)
    layer.gamma.assign(scale)
    layer.beta.assign(offset)
    with tf.GradientTape() as tape:
      inputs = tf.cast(x, dtype)
      tape.watch(inputs)
      y = layer(inputs)
      loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
    grads = tape.gradient(loss, [inputs, layer.gamma, layer.beta])
    assert y.dtype == dtype
    results.append([tf.cast(t, tf.float32).numpy() for t in [y] + grads])
  tol = 1e-4 if dtype == "float32" else 2e-2
  for got, want in zip(results[1], results[0]):
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
