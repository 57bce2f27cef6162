"""Shared layer pieces: the timing signal, attention biases, shifting, initializers."""
import math

import keras
import numpy as np
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.layers import common


def test_timing_signal_is_sines_then_cosines():
  signal = common.timing_signal(5, 8).numpy()[0]
  assert signal.shape == (5, 8)
  np.testing.assert_allclose(signal[:, 0], np.sin(np.arange(5)), atol=1e-6)
  np.testing.assert_allclose(signal[:, 4], np.cos(np.arange(5)), atol=1e-6)
  slowest = 1e-4  # max_timescale 1e4 at the last of 4 timescales
  np.testing.assert_allclose(signal[3, 3], math.sin(3 * slowest), atol=1e-6)
  at = common.timing_signal_at(tf.constant([[0, 1, 0]]), 8).numpy()[0]
  np.testing.assert_allclose(at[2], signal[0])


def test_biases_and_shift():
  padding = common.padding_bias(tf.constant([[5, 0]])).numpy()
  assert padding.shape == (1, 1, 1, 2) and padding[0, 0, 0, 0] == 0 and padding[..., 1] < -1e8
  causal = common.causal_bias(3).numpy()[0, 0]
  assert (causal[np.tril_indices(3)] == 0).all() and causal[0, 2] < -1e8
  segments = common.segment_bias(tf.constant([[1, 1, 2]]), tf.constant([[1, 2, 0]])).numpy()
  assert segments[0, 0, 0].tolist() == [0, common.NEG_INF, common.NEG_INF]
  assert common.shift_right(tf.constant([[3, 4, 5]])).numpy().tolist() == [[0, 3, 4]]


def test_initializers_and_fused_parts_keep_their_own_scale():
  hp = registry.hparams("transformer_tiny")
  assert isinstance(common.initializer(hp), keras.initializers.VarianceScaling)
  fused = common.Fused(keras.initializers.GlorotUniform(), 3)((64, 192)).numpy()
  parts = np.split(fused, 3, axis=1)
  assert not np.array_equal(parts[0], parts[1])  # each part its own seed
  limit = math.sqrt(6 / (64 + 64))  # Glorot of a [64, 64] kernel, not of [64, 192]
  assert np.abs(fused).max() <= limit and np.abs(fused).max() > 0.8 * limit
