"""Multi-head attention: the incremental cache gives what full causal attention gives,
padding is hidden, and cross-attention over projected memory equals the direct form."""
import keras
import numpy as np
import tensorflow as tf

from t2t_lite.layers import common
from t2t_lite.layers.attention import MultiHeadAttention

D, HEADS = 16, 4


def _layer(self_attention):
  keras.utils.set_random_seed(3)
  layer = MultiHeadAttention(D, HEADS, 0.0, keras.initializers.GlorotUniform(),
                             self_attention=self_attention)
  return layer


def test_cached_steps_equal_full_causal_attention():
  layer = _layer(True)
  x = tf.random.stateless_normal([2, 5, D], seed=[1, 2])
  full = layer(x, bias=common.causal_bias(5))
  cache = {"k": tf.zeros([2, HEADS, 0, D // HEADS]), "v": tf.zeros([2, HEADS, 0, D // HEADS])}
  steps = []
  for t in range(5):
    out, cache = layer(x[:, t:t + 1], cache=cache)
    steps.append(out)
  assert cache["k"].shape == (2, HEADS, 5, D // HEADS)  # one position per step
  np.testing.assert_allclose(tf.concat(steps, axis=1).numpy(), full.numpy(), atol=1e-5)


def test_padding_is_invisible():
  layer = _layer(True)
  x = tf.random.stateless_normal([1, 4, D], seed=[3, 4])
  ids = tf.constant([[5, 6, 0, 0]])
  padded = layer(x, bias=common.padding_bias(ids))
  changed = tf.concat([x[:, :2], x[:, 2:] * 7.0], axis=1)  # only the padding differs
  again = layer(changed, bias=common.padding_bias(ids))
  np.testing.assert_allclose(padded.numpy()[:, :2], again.numpy()[:, :2], atol=1e-5)


def test_cross_attention_with_memory_keys_computed_once():
  layer = _layer(False)
  x = tf.random.stateless_normal([2, 3, D], seed=[5, 6])
  memory = tf.random.stateless_normal([2, 7, D], seed=[7, 8])
  direct = layer(x, memory=memory)
  k, v = layer.memory_kv(memory)
  steps = [layer(x[:, t:t + 1], cache={"memory_k": k, "memory_v": v})[0] for t in range(3)]
  np.testing.assert_allclose(tf.concat(steps, axis=1).numpy(), direct.numpy(), atol=1e-5)
