"""Normalization layers: batch normalization with the global batch's statistics under any
strategy, and layer normalization with a hand-written gradient.

LayerNormalization subclasses Keras' (same variables, checkpoints and float32 computation
under mixed precision) and replaces `call` for the usual case (last axis, center and
scale): Keras's version broadcasts its scale into full-size tensors and leaves autodiff
about a dozen passes over the activations backward; the closed-form gradient takes seven.

Keras' BatchNormalization computes the moments of each replica's own batch when given a
mask (its `synchronized` option covers only the unmasked case), so the same global batch
split over 2 replicas normalized differently than on one device. Here the masked sums are
all-reduced over the replicas (two passes: the mean, then the squared deviations from it),
so training is the same for any split of a batch, as the rest of the loss is. With one
replica the Keras computation runs unchanged.

It subclasses Keras' layer (same variables and checkpoints) and replaces its `_moments`
hook, the one method that differs.
"""
import keras
import tensorflow as tf

SUM = tf.distribute.ReduceOp.SUM


class GlobalBatchNormalization(keras.layers.BatchNormalization):

  def _moments(self, inputs, mask):
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
      return super()._moments(inputs, mask)
    if mask is None:
      weights = tf.ones_like(inputs)
    else:
      weights = tf.broadcast_to(tf.cast(mask, inputs.dtype)[..., None], tf.shape(inputs))
    axes = self._reduction_axes
    total, count = ctx.all_reduce(SUM, [tf.reduce_sum(inputs * weights, axes),
                                        tf.reduce_sum(weights, axes)])
    count = count + keras.backend.epsilon()
    mean = total / count
    squared = ctx.all_reduce(SUM, tf.reduce_sum(tf.square(inputs - mean) * weights, axes))
    return mean, squared / count


class LayerNormalization(keras.layers.LayerNormalization):

  def call(self, inputs):
    last = [a % len(inputs.shape) for a in self.axis] == [len(inputs.shape) - 1]
    if self.rms_scaling or not (self.center and self.scale and last):
      return super().call(inputs)
    x = tf.cast(inputs, tf.float32)
    return tf.cast(_normalize_last_axis(x, tf.cast(self.gamma, tf.float32),
                                        tf.cast(self.beta, tf.float32), self.epsilon),
                   self.compute_dtype)


def _normalize_last_axis(x, gamma, beta, epsilon):
  """(x - mean) / sqrt(variance + epsilon) * gamma + beta over the last axis, with
  dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy gamma."""
  @tf.custom_gradient
  def norm(x, gamma, beta):
    mean = tf.reduce_mean(x, -1, keepdims=True)
    centered = x - mean
    rstd = tf.math.rsqrt(tf.reduce_mean(tf.square(centered), -1, keepdims=True) + epsilon)
    xhat = centered * rstd

    def grad(dy):
      rows = list(range(len(x.shape) - 1))
      g = dy * gamma
      dx = rstd * (g - tf.reduce_mean(g, -1, keepdims=True) -
                   xhat * tf.reduce_mean(g * xhat, -1, keepdims=True))
      return dx, tf.reduce_sum(dy * xhat, rows), tf.reduce_sum(dy, rows)
    return xhat * gamma + beta, grad
  return norm(x, gamma, beta)
