"""Multi-head dot-product attention with an incremental-decoding cache.

Projections have no biases (as in Tensor2Tensor). Self-attention projects q, k and v with
one fused matmul. For decoding, the cache holds the keys/values of the positions decoded
so far, [batch, heads, step, depth], and grows by one position a step (as Hugging Face's
cache does): a fixed-size buffer would make every step read, write and attend over all
max_length positions, and beam search copies the cache at every step to reorder it.
Encoder keys/values for cross-attention are projected once per sequence, and a decoding
step attends to them with the beams of an example batched (not copied per beam).
"""
import keras
import tensorflow as tf

from t2t_lite.layers import dropout
from t2t_lite.layers.common import NEG_INF, Fused, fresh
from t2t_lite.layers.dropout import Dropout


def _project(x, kernel):
  """[b, t, d] x [d, e] -> [b, t, e] as one 2-D matmul."""
  shape = tf.shape(x)
  y = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), tf.cast(kernel, x.dtype))
  return tf.reshape(y, tf.concat([shape[:-1], [kernel.shape[-1]]], 0))


class MultiHeadAttention(keras.layers.Layer):

  def build(self, *shapes, **kw):
    self.built = True  # weights are made in __init__; children build on first call

  def __init__(self, hidden_size, num_heads, dropout, initializer, self_attention,
               dropout_bits=dropout.DEFAULT_BITS, dropout_kernel=dropout.DEFAULT_KERNEL,
               **kwargs):
    super().__init__(**kwargs)
    self.hidden_size, self.num_heads = hidden_size, num_heads
    self.depth = hidden_size // num_heads
    self.self_attention = self_attention
    d = hidden_size
    if self_attention:
      self.qkv = self.add_weight(name="qkv", shape=(d, 3 * d),
                                 initializer=Fused(initializer, 3))
    else:
      self.q = self.add_weight(name="q", shape=(d, d), initializer=fresh(initializer))
      self.kv = self.add_weight(name="kv", shape=(d, 2 * d),
                                initializer=Fused(initializer, 2))
    self.out = self.add_weight(name="output", shape=(d, d), initializer=fresh(initializer))
    self.dropout = Dropout(dropout, dropout_bits, dropout_kernel)

  def _split_heads(self, x):
    """[b, t, n*h*depth] -> n tensors of [b, h, t, depth]."""
    b, t = tf.shape(x)[0], tf.shape(x)[1]
    n = x.shape[-1] // self.hidden_size
    x = tf.reshape(x, [b, t, n, self.num_heads, self.depth])
    x = tf.transpose(x, [2, 0, 3, 1, 4])
    return tf.unstack(x, num=n, axis=0)

  def _combine_heads(self, x):
    b, t = tf.shape(x)[0], tf.shape(x)[2]
    return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, self.hidden_size])

  def memory_kv(self, memory):
    """Cross-attention keys and values of the encoder output (computed once)."""
    return self._split_heads(_project(memory, self.kv))

  def call(self, x, memory=None, bias=None, training=False, cache=None):
    """x: [b, t, d]. memory: encoder output for cross-attention. bias: broadcastable to
    [b, h, t, s]. cache: incremental decoding (t == 1) of the position after those in the
    cache; with a cache the result is (output, updated cache)."""
    if self.self_attention:
      q, k, v = self._split_heads(_project(x, self.qkv))
      if cache is not None:
        # Append this position: the cache holds exactly the positions decoded so far.
        k = tf.concat([cache["k"], k], axis=2)
        v = tf.concat([cache["v"], v], axis=2)
        cache = {"k": k, "v": v}
    else:
      q = self._split_heads(_project(x, self.q))[0]
      if cache is not None:
        return self._cached_cross_attention(q, bias, cache), cache
      k, v = self.memory_kv(memory)
    q *= self.depth ** -0.5
    # Masking and softmax in float32 under mixed precision (as Tensor2Tensor did): in
    # float16 the exponentials overflow, in bfloat16 the normalizing sum is imprecise.
    logits = tf.cast(tf.matmul(q, k, transpose_b=True), tf.float32)
    if bias is not None:
      if bias.dtype == tf.float16:  # Keras casts float inputs: NEG_INF became -inf
        bias = tf.maximum(tf.cast(bias, tf.float32), NEG_INF)
      logits += tf.cast(bias, tf.float32)
    weights = tf.cast(tf.nn.softmax(logits), v.dtype)
    weights = self.dropout(weights, training=training)
    if cache is not None:
      # One query per row: the weighted sum of the values as a broadcast product and a
      # sum over positions, about 3x faster on CPU than a batch of [1, t] x [t, depth]
      # matrix products.
      # ([b, h, 1, t] -> [b, h, t, 1] is a reshape: the moved axis has size 1.)
      b, h, t = tf.shape(weights)[0], tf.shape(weights)[1], tf.shape(weights)[3]
      context = tf.reduce_sum(tf.reshape(weights, [b, h, t, 1]) * v, axis=2, keepdims=True)
    else:
      context = tf.matmul(weights, v)
    output = _project(self._combine_heads(context), self.out)
    return output if cache is None else (output, cache)

  def _cached_cross_attention(self, q, bias, cache):
    """Cross-attention of one decoding step, the beams of an example batched: q [rows, h,
    1, depth] with rows = examples x beams (batch-major); cache["memory_k"/"memory_v"] and
    bias of the examples, unrepeated. One [beams, depth] x [depth, source] product per
    example and head replaces one per beam, and the encoder's keys and values are neither
    copied per beam nor read once per beam."""
    k, v = cache["memory_k"], cache["memory_v"]
    examples = tf.shape(k)[0]
    beams = tf.shape(q)[0] // examples
    q = tf.reshape(q * self.depth ** -0.5, [examples, beams, self.num_heads, self.depth])
    q = tf.transpose(q, [0, 2, 1, 3])  # [examples, heads, beams, depth]
    logits = tf.cast(tf.matmul(q, k, transpose_b=True), tf.float32)
    if bias is not None:
      if bias.dtype == tf.float16:
        bias = tf.maximum(tf.cast(bias, tf.float32), NEG_INF)
      logits += tf.cast(bias, tf.float32)
    weights = tf.cast(tf.nn.softmax(logits), v.dtype)
    context = tf.transpose(tf.matmul(weights, v), [0, 2, 1, 3])  # [examples, beams, h, d]
    context = tf.reshape(context, [examples * beams, 1, self.hidden_size])
    return _project(context, self.out)

