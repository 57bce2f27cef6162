"""Small shared pieces: initializers from hparams, positional timing signal, biases."""
import math

import keras
import tensorflow as tf

from t2t_lite import options
from t2t_lite.options import HParamsGroup, setting

# Large negative logit for masked attention positions (finite, so fully-masked rows of
# padding stay NaN-free).
NEG_INF = -1e9


INITIALIZERS = ("uniform_unit_scaling", "normal_unit_scaling", "xavier", "orthogonal",
                "uniform")


@options.hparams_group("initializer")
class InitializerHParams(HParamsGroup):
  """The hparams `initializer` reads (a model that uses it declares them)."""
  initializer: str = setting("orthogonal", "weight initializer (Tensor2Tensor's names)",
                             choices=INITIALIZERS)
  initializer_gain: float = setting(1.5, "its scale", above=0)


def initializer(hparams):
  """Tensor2Tensor's initializer names mapped to Keras initializers."""
  gain = hparams.initializer_gain
  name = hparams.initializer
  if name == "uniform_unit_scaling":
    return keras.initializers.VarianceScaling(gain, mode="fan_avg", distribution="uniform")
  if name == "normal_unit_scaling":
    return keras.initializers.VarianceScaling(gain, mode="fan_avg",
                                              distribution="truncated_normal")
  if name == "xavier":
    return keras.initializers.GlorotUniform()
  if name == "orthogonal":
    return keras.initializers.Orthogonal(gain)
  if name == "uniform":
    return keras.initializers.RandomUniform(-gain, gain)
  raise ValueError(f"initializer={name!r} is not one of {INITIALIZERS} (validate_hparams "
                   "checks this first)")


def fresh(init):
  """A new copy of a Keras initializer with its own random seed.

  An unseeded Keras 3 initializer picks one seed when it is constructed, so reusing one
  instance gives every weight the same values; each weight must get its own copy."""
  config = dict(init.get_config())
  if "seed" in config:
    config["seed"] = None
  return init.__class__.from_config(config)


class Fused(keras.initializers.Initializer):
  """Initializes a [d, n*e] fused kernel as n independent [d, e] kernels, so that fusing
  the q/k/v projections into one matmul keeps each projection's fan-in/fan-out scale."""

  def __init__(self, base, parts):
    self.base, self.parts = base, parts

  def __call__(self, shape, dtype=None):
    part_shape = tuple(shape[:-1]) + (shape[-1] // self.parts,)
    return tf.concat([fresh(self.base)(part_shape, dtype=dtype) for _ in range(self.parts)],
                     axis=-1)


def timing_signal(length, channels, min_timescale=1.0, max_timescale=1.0e4):
  """Sinusoidal position signal [1, length, channels] (Tensor2Tensor's get_timing_signal_1d:
  sines in the first half of the channels, cosines in the second)."""
  position = tf.cast(tf.range(length), tf.float32)
  num_timescales = channels // 2
  log_increment = math.log(max_timescale / min_timescale) / max(num_timescales - 1, 1)
  inv_timescales = min_timescale * tf.exp(
      tf.cast(tf.range(num_timescales), tf.float32) * -log_increment)
  scaled = position[:, None] * inv_timescales[None, :]
  signal = tf.concat([tf.sin(scaled), tf.cos(scaled)], axis=1)
  signal = tf.pad(signal, [[0, 0], [0, channels % 2]])
  return signal[None]


def timing_signal_at(positions, channels, min_timescale=1.0, max_timescale=1.0e4):
  """The timing signal of explicit positions [b, t] -> [b, t, channels] (packed rows)."""
  table = timing_signal(tf.reduce_max(positions) + 1, channels, min_timescale, max_timescale)
  return tf.gather(table[0], positions)


def segment_bias(query_segments, memory_segments):
  """[batch, 1, q, m] bias letting a query see only memory positions of its own example
  in a packed row (segment ids 1, 2, ...; 0 is padding and sees nothing real)."""
  same = tf.equal(query_segments[:, :, None], memory_segments[:, None, :])
  real = tf.not_equal(memory_segments, 0)[:, None, :]
  return tf.cast(tf.logical_not(same & real), tf.float32)[:, None] * NEG_INF


def padding_bias(ids):
  """[batch, 1, 1, length] bias that hides padding (id 0) from attention."""
  return tf.cast(tf.equal(ids, 0), tf.float32)[:, None, None, :] * NEG_INF


def causal_bias(length):
  """[1, 1, length, length] bias that hides future positions."""
  lower = tf.linalg.band_part(tf.ones([length, length]), -1, 0)
  return ((1.0 - lower) * NEG_INF)[None, None]


def shift_right(targets):
  """Decoder inputs: targets shifted one step right, with 0 as the start symbol."""
  return tf.pad(targets, [[0, 0], [1, 0]])[:, :-1]
