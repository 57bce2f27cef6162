"""Dropout that draws a quarter (or half) of the random bits of the stock implementation.

Random-number generation dominated the cost of dropout on CPU: TensorFlow's Philox makes
32-bit words at a few nanoseconds each. Here each word serves four elements as 8-bit
uniforms (FlashAttention's dropout resolution), or two as 16-bit ones:

  dropout_bits=8   a rate r runs as t / 256 with t = round(256 r) (0.1 -> 26/256 = 0.1016)
                   and kept elements are scaled by 256 / (256 - t), so every output's
                   expectation is exactly its input. A rate that 8 bits miss by more than
                   2% of itself (below 0.1, away from a multiple of 1/256; 0.01 -> 0.0117)
                   is drawn with 16 bits instead.
  dropout_bits=16  the rate exact to 1/65536, scale 1 / (1 - r): the masks of t2t_lite
                   before dropout_bits existed, bit for bit.

Seeds come from a Keras SeedGenerator, whose state is a variable: it is checkpointed with
the model, and a resumed run continues the same random stream.
"""
import keras
import tensorflow as tf

from t2t_lite.hparams_lib import spec

BITS = (8, 16)
DEFAULT_BITS = 8
DROPOUT_HPARAMS = (
    spec("dropout_bits", int, "random bits per dropped-out element: 8 (rates to 1/256, "
         "half the random numbers) or 16 (rates to 1/65536)", choices=BITS),
)
# 8-bit rounding may move a rate by at most this fraction of itself.
_MAX_RELATIVE_RATE_ERROR = 0.02


def resolution(rate, bits):
  """(bits, threshold, scale): an element is kept when its `bits`-bit uniform is at least
  `threshold`, and then multiplied by `scale`."""
  if bits not in BITS:
    raise ValueError(f"dropout bits must be one of {BITS}, not {bits}")
  if bits == 8:
    threshold = round(rate * 256)
    if threshold < 256 and abs(threshold / 256 - rate) <= _MAX_RELATIVE_RATE_ERROR * rate:
      return 8, threshold, 256 / (256 - threshold)
  return 16, round(rate * 65536), 1.0 / (1.0 - rate)


class Dropout(keras.layers.Layer):

  def __init__(self, rate, bits=DEFAULT_BITS, **kwargs):
    super().__init__(**kwargs)
    self.rate = rate
    self.bits, self.threshold, self.scale = resolution(rate, bits)
    self.seed_generator = keras.random.SeedGenerator() if rate > 0 else None
    # Keras' SeedGenerator is not a TF trackable: name its state variable here so that
    # checkpoints (and therefore resumed runs) carry the random stream's position.
    self.seed_state = self.seed_generator.state if rate > 0 else None

  def build(self, *shapes, **kw):
    self.built = True

  @property
  def realized_rate(self):
    """The probability that an element is dropped."""
    return self.threshold / 2 ** self.bits

  def call(self, x, training=False):
    if not training or self.rate == 0.0:
      return x
    seed = tf.cast(self.seed_generator.next(), tf.int32)
    n = tf.size(x)
    per_word = 32 // self.bits
    words = tf.random.stateless_uniform([(n + per_word - 1) // per_word], seed=seed,
                                        minval=None, maxval=None, dtype=tf.uint32)
    uniforms = tf.reshape(tf.bitcast(words, tf.uint8 if self.bits == 8 else tf.uint16),
                          [-1])[:n]
    keep = tf.reshape(uniforms >= self.threshold, tf.shape(x))
    # One multiply by a 0-or-scale mask: the same values as where(keep, x * scale, 0) in
    # fewer passes over x forward and backward.
    return x * (tf.cast(keep, x.dtype) * tf.cast(self.scale, x.dtype))
