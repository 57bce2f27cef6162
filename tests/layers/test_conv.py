"""The custom-gradient convolution equals tf.nn.conv2d, gradients included."""
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite.layers.conv import conv2d_valid


@pytest.mark.parametrize("shape,kernel,strides", [
    ((2, 41, 30, 1), (11, 9, 1, 4), (2, 2)),   # DeepSpeech2's first block, smaller
    ((3, 20, 17, 4), (5, 7, 4, 3), (1, 2)),    # strides that do not divide the input
    ((2, 19, 23, 2), (3, 4, 2, 5), (3, 1)),
    ((1, 6, 6, 2), (2, 2, 2, 2), (1, 1)),
])
def test_values_and_gradients_equal_conv2d(shape, kernel, strides):
  rng = np.random.default_rng(0)
  x = tf.constant(rng.normal(size=shape), tf.float32)
  w = tf.constant(rng.normal(size=kernel), tf.float32)
  probe = None

  def loss(fn):
    nonlocal probe
    with tf.GradientTape() as tape:
      tape.watch([x, w])
      y = fn(x, w)
      if probe is None:
        probe = tf.constant(rng.normal(size=y.shape), tf.float32)
      value = tf.reduce_sum(y * probe)
    return (y, *tape.gradient(value, [x, w]))

  expected = loss(lambda x, w: tf.nn.conv2d(x, w, [1, *strides, 1], "VALID"))
  got = loss(lambda x, w: conv2d_valid(x, w, strides))
  for e, g in zip(expected, got):
    np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-4, atol=1e-4)
