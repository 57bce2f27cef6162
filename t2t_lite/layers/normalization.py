"""Batch normalization whose statistics are those of the global batch under any strategy.

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
