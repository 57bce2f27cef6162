"""The compiled training step: forward, loss, gradients, clipping, non-finite skipping.

The loss of a step is the label-smoothed cross-entropy summed over the non-padding target
tokens of every replica, divided by the global count of such tokens, so it does not depend
on how the batch is split over replicas. A step whose loss or gradients are not finite
changes no weight; it only counts into `nonfinite_run` (consecutive such steps).
"""
import tensorflow as tf

SUM = tf.distribute.ReduceOp.SUM


class TrainStep:

  def __init__(self, strategy, model, optimizer, hparams, global_step, max_nonfinite_steps):
    self.strategy, self.model, self.optimizer = strategy, model, optimizer
    self.hparams, self.global_step = hparams, global_step
    self.max_nonfinite_steps = max_nonfinite_steps
    with strategy.scope():
      agg = tf.VariableAggregation.ONLY_FIRST_REPLICA
      self.nonfinite_run = tf.Variable(0, dtype=tf.int64, trainable=False, aggregation=agg)
      self.nonfinite_total = tf.Variable(0, dtype=tf.int64, trainable=False, aggregation=agg)
      # 1.0, or 0.0 during a multi-replica step whose loss was not finite: the learning
      # rate schedule multiplies by it (see _replica_step).
      self.update_gate = tf.Variable(1.0, trainable=False, aggregation=agg)
    schedule = getattr(optimizer, "_learning_rate", None)
    if hasattr(schedule, "gate"):
      schedule.gate = self.update_gate
    self.run = self._compile()

  def _clip_global_norm(self, ctx, grads):
    """Clips by the norm of the gradient summed over replicas (the optimizer sums the
    replicas' gradients after this, so clipping each replica's own would let the limit
    grow with the replica count)."""
    total = ctx.all_reduce(SUM, grads) if ctx.num_replicas_in_sync > 1 else grads
    norm = tf.linalg.global_norm(total)
    clip = self.hparams.clip_grad_norm
    return [g * (clip / tf.maximum(norm, clip)) for g in grads]

  def _replica_step(self, features):
    model, optimizer = self.model, self.optimizer
    ctx = tf.distribute.get_replica_context()
    with tf.GradientTape() as tape:
      logits = model(features, training=True)
      loss_sum, weight = model.loss_sums(logits, features)
      global_weight = ctx.all_reduce(SUM, weight)
      loss = loss_sum / tf.maximum(global_weight, 1.0)
    variables = model.trainable_variables
    grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
    finite = tf.logical_and(tf.math.is_finite(loss),
                            tf.math.is_finite(tf.linalg.global_norm(grads)))
    if ctx.num_replicas_in_sync > 1:
      finite = ctx.all_reduce(SUM, tf.cast(tf.logical_not(finite), tf.float32)) == 0.0
    if self.hparams.clip_grad_norm > 0:
      grads = self._clip_global_norm(ctx, grads)

    # Under parameter servers Keras synchronizes even one replica's update (merge_call),
    # which cannot sit in a tf.cond either.
    if self.strategy.num_replicas_in_sync == 1 and not isinstance(
        self.strategy, tf.distribute.experimental.ParameterServerStrategy):
      def apply():
        optimizer.apply_gradients(zip(grads, variables))
        return tf.constant(True)
      tf.cond(finite, apply, lambda: tf.constant(False))
    else:
      # An optimizer step cannot sit in a tf.cond across replicas (it synchronizes them):
      # apply zero gradients at learning rate 0 instead. The weights stay as they are;
      # only the optimizer's moment estimates decay by one step.
      self.update_gate.assign(tf.cast(finite, tf.float32))
      grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
      optimizer.apply_gradients(zip(grads, variables))
    self.global_step.assign_add(1)
    self.nonfinite_run.assign(tf.where(finite, tf.constant(0, tf.int64), self.nonfinite_run + 1))
    self.nonfinite_total.assign_add(tf.cast(tf.logical_not(finite), tf.int64))
    zero = tf.zeros_like(loss_sum)
    return tf.where(finite, loss_sum, zero), tf.where(finite, weight, zero)

  def _compile(self):
    strategy = self.strategy

    @tf.function
    def run(iterator, num_steps):
      """Runs up to num_steps steps (fewer once too many in a row were non-finite);
      returns the mean loss per token over the finite ones."""
      loss_total = tf.constant(0.0)
      weight_total = tf.constant(0.0)
      for _ in tf.range(num_steps):
        if self.nonfinite_run >= self.max_nonfinite_steps:
          break
        loss_sum, weight = strategy.run(self._replica_step, args=(next(iterator),))
        loss_total += strategy.reduce(SUM, loss_sum, axis=None)
        weight_total += strategy.reduce(SUM, weight, axis=None)
      return loss_total / tf.maximum(weight_total, 1.0)
    return run
