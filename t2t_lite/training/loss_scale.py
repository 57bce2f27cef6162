"""Dynamic loss scaling for float16 training.

float16 gradients underflow to zero below ~6e-8, so the loss is multiplied by a large
scale before backpropagation and the gradients divided by it after. When a step's loss is
finite but its gradients are not, the scale was too large: the step is skipped and the
scale halved. That is the normal way the scale finds its level, not a failure, so such a
step does not count towards the trainer's non-finite rollbacks. After `growth_steps`
finite steps in a row the scale doubles. At scale 1 nothing is scaled any more, so
non-finite gradients there are a real failure again.

The variables are updated in replica context from values that are the same on every
replica (reduced over replicas by TrainStep), so every replica keeps the same scale.
"""
import tensorflow as tf


class DynamicLossScale(tf.Module):

  def __init__(self, initial_scale, growth_steps):
    super().__init__(name="loss_scale")
    agg = tf.VariableAggregation.ONLY_FIRST_REPLICA
    self.scale = tf.Variable(float(initial_scale), trainable=False, aggregation=agg,
                             name="scale")
    self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, aggregation=agg,
                                  name="good_steps")
    self.growth_steps = growth_steps

  def scale_loss(self, loss):
    return loss * self.scale

  def unscale(self, grads):
    inverse = 1.0 / self.scale
    return [g * inverse for g in grads]

  def update(self, loss_finite, grads_finite):
    """Adjusts the scale after a step; returns whether the step overflowed (skip it, but
    do not count it as a non-finite step)."""
    scale = tf.convert_to_tensor(self.scale)
    overflow = loss_finite & tf.logical_not(grads_finite) & (scale > 1.0)
    finite = loss_finite & grads_finite
    good = tf.where(finite, self.good_steps + 1, tf.zeros_like(self.good_steps))
    grow = good >= self.growth_steps
    self.scale.assign(tf.where(overflow, tf.maximum(scale / 2.0, 1.0),
                               tf.where(grow, scale * 2.0, scale)))
    self.good_steps.assign(tf.where(grow, tf.zeros_like(good), good))
    return overflow
