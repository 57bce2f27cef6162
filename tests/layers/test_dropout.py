import numpy as np
import pytest
import tensorflow as tf

from t2t_lite.layers.dropout import Dropout


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_drops_the_right_fraction_and_keeps_the_mean(rate):
  x = tf.ones([400, 501])  # odd size: the last random word is half used
  y = Dropout(rate)(x, training=True).numpy()
  dropped = (y == 0).mean()
  assert abs(dropped - rate) < 0.01
  assert abs(y.mean() - 1.0) < 0.02
  np.testing.assert_allclose(y[y != 0], 1.0 / (1.0 - rate), rtol=1e-6)


def test_identity_when_not_training_and_fresh_masks_each_call():
  x = tf.random.normal([8, 16])
  layer = Dropout(0.5)
  np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
  a, b = layer(x, training=True).numpy(), layer(x, training=True).numpy()
  assert not np.array_equal(a == 0, b == 0)


def test_gradient_flows_through_kept_elements_only():
  x = tf.ones([64, 64])
  layer = Dropout(0.25)
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = layer(x, training=True)
    total = tf.reduce_sum(y)
  g = tape.gradient(total, x).numpy()
  np.testing.assert_array_equal(g == 0, y.numpy() == 0)
