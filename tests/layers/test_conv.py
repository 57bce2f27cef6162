"""The custom-gradient convolution equals tf.nn.conv2d, gradients included."""
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite.layers import conv
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


@pytest.mark.parametrize("padding,strides", [((1, 2), (1, 1)), ((3, 0), (2, 3))])
def test_padded_convolution_equals_conv2d_with_explicit_padding(padding, strides):
  rng = np.random.default_rng(1)
  x = tf.constant(rng.normal(size=(2, 9, 11, 3)), tf.float32)
  w = tf.constant(rng.normal(size=(3, 5, 3, 4)), tf.float32)
  pads = [[0, 0], [padding[0]] * 2, [padding[1]] * 2, [0, 0]]
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([x, w])
    expected = tf.nn.conv2d(x, w, [1, *strides, 1], pads)
    got = conv.conv2d(x, w, strides, padding)
  np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
  for e, g in zip(tape.gradient(expected, [x, w]), tape.gradient(got, [x, w])):
    np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel_hw,strides", [((3, 3), (1, 1)), ((11, 5), (2, 2))])
def test_both_filter_gradient_algorithms_agree(kernel_hw, strides):
  rng = np.random.default_rng(2)
  x = tf.constant(rng.normal(size=(3, 24, 20, 2)), tf.float32)
  out_h = (24 - kernel_hw[0]) // strides[0] + 1
  out_w = (20 - kernel_hw[1]) // strides[1] + 1
  dy = tf.constant(rng.normal(size=(3, out_h, out_w, 4)), tf.float32)
  stock = tf.raw_ops.Conv2DBackpropFilter(
      input=x, filter_sizes=[*kernel_hw, 2, 4], out_backprop=dy, strides=[1, *strides, 1],
      padding="VALID")
  for fn in (conv.filter_gradient, conv.filter_gradient_as_forward_conv):
    np.testing.assert_allclose(fn(x, dy, kernel_hw, strides).numpy(), stock.numpy(),
                               rtol=1e-4, atol=1e-3)
