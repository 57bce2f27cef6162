"""Symbol embeddings, split into shards, shared between inputs, targets and the softmax.

Tensor2Tensor's symbol modality: the [vocab, hidden] table is `symbol_modality_num_shards`
separate variables (so a parameter-server strategy can place them on different tasks),
looked up with tf.nn.embedding_lookup's 'div' partitioning (shard i holds a contiguous
block of rows, the first vocab % num_shards shards one row more). Embeddings are scaled by
sqrt(hidden_size) and padding embeds to zero.
"""
import keras
import tensorflow as tf


def shard_sizes(vocab_size, num_shards):
  num_shards = max(1, min(num_shards, vocab_size))  # never an empty shard
  return [vocab_size // num_shards + (1 if i < vocab_size % num_shards else 0)
          for i in range(num_shards)]


class SharedEmbedding(keras.layers.Layer):

  def build(self, *shapes, **kw):
    self.built = True  # weights are made in __init__; children build on first call
  """embed(ids) -> [.., hidden]; logits(x) -> [.., vocab] with the same table."""

  def __init__(self, vocab_size, hidden_size, num_shards=1, multiply_by_sqrt_depth=True,
               **kwargs):
    super().__init__(**kwargs)
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.multiply_by_sqrt_depth = multiply_by_sqrt_depth
    # One initializer per shard: a shared unseeded Keras initializer repeats its values.
    # Each shard is an attribute (weights_0, ...): checkpoints do not follow Keras lists.
    shards = []
    for i, rows in enumerate(shard_sizes(vocab_size, num_shards)):
      shard = self.add_weight(name=f"weights_{i}", shape=(rows, hidden_size),
                              initializer=keras.initializers.RandomNormal(
                                  0.0, hidden_size ** -0.5))
      setattr(self, f"weights_{i}", shard)
      shards.append(shard)
    self.shards = tuple(shards)

  def table(self):
    values = [s.value if hasattr(s, "value") else s for s in self.shards]
    return values[0] if len(values) == 1 else tf.concat(values, axis=0)

  def embed(self, ids, table=None):
    """ids -> [.., hidden]. `table`: this layer's table(), computed once outside a
    decoding loop; one gather from it replaces the partitioned lookup over the shards
    (a partition, a gather per shard and a stitch at every step)."""
    if table is not None:
      x = tf.gather(table, ids)
    else:
      values = [s.value if hasattr(s, "value") else s for s in self.shards]
      x = tf.nn.embedding_lookup(values if len(values) > 1 else values[0], ids)
    if self.multiply_by_sqrt_depth:
      x *= self.hidden_size ** 0.5
    return x * tf.cast(tf.not_equal(ids, 0), x.dtype)[..., None]

  def softmax_kernel(self, table=None):
    """The table as a [hidden, vocab] matmul kernel, for a decoding loop to compute once:
    at every step it would concatenate the shards again, and a plain matmul against a
    transposed copy is faster than one that transposes the table."""
    return tf.transpose(self.table() if table is None else table)

  def logits(self, x, kernel=None):
    """x [.., hidden] -> [.., vocab], as one 2-D matmul: a 3-D x against the 2-D table
    would broadcast, and its gradient would materialize one [vocab, hidden] product per
    batch row and sum them (the largest tensor and a tenth of a training step).
    `kernel`: softmax_kernel(), computed once outside a decoding loop."""
    x2 = tf.reshape(x, [-1, self.hidden_size])
    if kernel is None:
      logits = tf.matmul(x2, tf.cast(self.table(), x.dtype), transpose_b=True)
    else:
      logits = tf.matmul(x2, tf.cast(kernel, x.dtype))
    return tf.reshape(logits, tf.concat([tf.shape(x)[:-1], [self.vocab_size]], 0))
