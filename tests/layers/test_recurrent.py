"""The hoisted GRU recurrence equals Keras' Bidirectional GRU on the same weights, with
right-padded sequences masked, in outputs and gradients."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite.layers import recurrent


def test_matches_keras_bidirectional_gru_with_masks():
  layer = keras.layers.Bidirectional(keras.layers.GRU(16, return_sequences=True))
  rng = np.random.default_rng(0)
  x = tf.constant(rng.standard_normal((3, 7, 5)), tf.float32)
  mask = tf.sequence_mask([7, 4, 1], 7)
  with tf.GradientTape(persistent=True) as tape:
    expected = layer(x, mask=mask)
    got = recurrent.bidirectional_gru(layer, x, mask)
    losses = [tf.reduce_sum(expected ** 2), tf.reduce_sum(got ** 2)]
  np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-6)
  assert np.all(got.numpy()[1, 4:] == 0) and np.all(got.numpy()[2, 1:] == 0)
  for a, b in zip(*(tape.gradient(l, layer.trainable_variables) for l in losses)):
    np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5)


def test_refuses_settings_it_does_not_implement():
  recurrent.check_supported(keras.layers.GRU(4))
  with pytest.raises(ValueError, match="default GRU settings"):
    recurrent.check_supported(keras.layers.GRU(4, reset_after=False))
