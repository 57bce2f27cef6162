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

Two kernels compute the same values, bit for bit (hparam dropout_kernel):

  tf     TensorFlow ops: Philox words, compare, cast, multiply; the mask is kept for the
         gradient. Any device.
  fused  the custom op ops/dropout_op.cc (CPU): draws the same Philox words itself, ~6x
         faster per core, and multiplies in the same pass; the gradient draws them again
         instead of keeping a mask. A transformer_tiny step's dropout took ~28 ms on 2
         cores with the tf kernel, ~8 with this one, and keeps no [.., 4-byte] masks.
  auto   fused where it builds, the process has no GPU or TPU and the strategy is not
         parameter_server; tf elsewhere.
"""
import contextlib
import threading

import keras
import numpy as np
import tensorflow as tf

from t2t_lite import options
from t2t_lite.layers import strategy_allows
from t2t_lite.ops import build
from t2t_lite.options import HParamsGroup, setting

BITS = (8, 16)
KERNELS = ("auto", "fused", "tf")


@options.hparams_group("dropout")
class DropoutHParams(HParamsGroup):
  """The hparams of this dropout (a model that uses it declares them)."""
  dropout_bits: int = setting(8, "random bits per dropped-out element: 8 (rates to 1/256, "
                              "half the random numbers) or 16 (rates to 1/65536)",
                              choices=BITS)
  dropout_kernel: str = setting("auto", "how dropout runs, with the same results: fused (a "
                                "C++ op built on first use, CPU), tf (TensorFlow ops), auto "
                                "(fused on CPU-only machines where it builds)",
                                choices=KERNELS)


# The declared defaults, for layers built outside a model's hparams.
DEFAULT_BITS = DropoutHParams().dropout_bits
DEFAULT_KERNEL = DropoutHParams().dropout_kernel
OP_SOURCE = "dropout_op.cc"
_FUSED_DTYPES = (tf.float32, tf.bfloat16, tf.float16)
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


_tracing = threading.local()


@contextlib.contextmanager
def compiled_by_xla():
  """Dropout traced inside runs TensorFlow ops: XLA has no kernel for the fused op (the
  trainer's jit_compile step traces under this)."""
  previous = _traced_for_xla()
  _tracing.xla = True
  try:
    yield
  finally:
    _tracing.xla = previous


def _traced_for_xla():
  return getattr(_tracing, "xla", False)


def check_kernel(kernel):
  if kernel not in KERNELS:
    raise ValueError(f"dropout kernel must be one of {KERNELS}, not {kernel!r}")


def use_fused(kernel, custom_ops=True):
  """Whether dropout_kernel `kernel` runs the fused op here (builds it on first use);
  custom_ops: whether the strategy runs ops built in this process (StrategyAllows)."""
  check_kernel(kernel)
  if kernel == "tf":
    return False
  if kernel == "auto" and (
      tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU") or
      # parameter_server's workers would need the library too (cluster.run_server loads
      # it where it builds; dropout_kernel=fused relies on that).
      not custom_ops):
    return False
  return build.load(OP_SOURCE) is not None


def fused_dropout(x, seed, threshold, scale, bits):
  """The fused op's dropout of x: the values of Dropout's tf kernel, from the same seed."""
  op = build.load(OP_SOURCE)
  key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(seed=seed)
  # The scale rounded to x's dtype first, as the tf kernel's cast rounds it.
  scale = float(np.float32(scale).astype(x.dtype.as_numpy_dtype))

  @tf.custom_gradient
  def drop(x):
    def apply(t):
      return op.t2t_dropout(t, key, counter, threshold=threshold, scale=scale, bits=bits)
    return apply(x), apply
  return drop(x)


class Dropout(keras.layers.Layer):

  def __init__(self, rate, bits=DEFAULT_BITS, kernel=DEFAULT_KERNEL, **kwargs):
    super().__init__(**kwargs)
    self.rate = rate
    self.bits, self.threshold, self.scale = resolution(rate, bits)
    check_kernel(kernel)
    self.kernel = kernel
    # Decided at the first training call: models that only decode never build the op.
    self._fused = None
    self._custom_ops = strategy_allows.current().custom_ops
    self.seed_generator = keras.random.SeedGenerator() if rate > 0 else None
    # Keras' SeedGenerator is not a TF trackable: name its state variable here so that
    # checkpoints (and therefore resumed runs) carry the random stream's position.
    self.seed_state = self.seed_generator.state if rate > 0 else None

  def build(self, *shapes, **kw):
    self.built = True

  @property
  def fused(self):
    """Whether training calls run the fused op (see use_fused)."""
    if self._fused is None:
      self._fused = self.rate > 0 and use_fused(self.kernel, self._custom_ops)
    return self._fused

  @property
  def realized_rate(self):
    """The probability that an element is dropped."""
    return self.threshold / 2 ** self.bits

  def call(self, x, training=False):
    if not training or self.rate == 0.0:
      return x
    seed = tf.cast(self.seed_generator.next(), tf.int32)
    if self.fused and x.dtype in _FUSED_DTYPES and not _traced_for_xla():
      return fused_dropout(x, seed, self.threshold, self.scale, self.bits)
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
