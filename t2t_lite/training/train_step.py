"""The compiled training step: forward, loss, gradients, clipping, non-finite skipping.

The loss of a step is the label-smoothed cross-entropy summed over the non-padding target
tokens of every replica, divided by the global count of such tokens, so it does not depend
on how the batch is split over replicas. A step whose loss or gradients are not finite
changes no weight; it only counts into `nonfinite_run` (consecutive such steps).

With gradient_accumulation_steps=N one step reads N micro-batches, sums their gradients
and makes one update, with the loss divided by the token count of all N together: the
same update as one batch holding all of them. Under activation_dtype=float16 a dynamic
loss scale (loss_scale.py) scales the loss; its overflow steps are skipped without
counting as non-finite. With jit_compile the per-replica computation is compiled by XLA
(the loop around it, which reads the input, is not).
"""
import tensorflow as tf

from t2t_lite import mixed_precision
from t2t_lite.ema import CHECKPOINT_KEY as EMA_KEY
from t2t_lite.errors import UserError
from t2t_lite.layers import dropout, strategy_allows
from t2t_lite.training.loss_scale import DynamicLossScale

SUM = tf.distribute.ReduceOp.SUM


def mean_per_token(loss_sum, tokens) -> float:
  """TrainStep.run's (loss sum, token count), or their sums over calls -> loss per token."""
  return float(loss_sum) / max(float(tokens), 1.0)

class TrainStep:

  def __init__(self, strategy, model, optimizer, hparams, global_step, max_nonfinite_steps,
               jit_compile=False, update_gate=None, ema=None, allows=None):
    """update_gate: a variable the learning rate is multiplied by (FactorSchedule.gate):
    a step skipped under several replicas sets it to 0 for its update. ema: an
    ema.ExponentialMovingAverage of the weights, updated after every applied update.
    allows: what the strategy allows (its runner's StrategyAllows; by default, described
    from `strategy`)."""
    self.strategy, self.model, self.optimizer = strategy, model, optimizer
    self.allows = allows or strategy_allows.describe(strategy)
    self.hparams, self.global_step = hparams, global_step
    self.max_nonfinite_steps = max_nonfinite_steps
    if jit_compile and strategy.num_replicas_in_sync > 1:
      # Checked on TF 2.21 with MirroredStrategy over logical CPUs: the compiled replica
      # step fails at run time ("You must feed a value for placeholder tensor").
      raise UserError("--xla works with one replica per process (--strategy=default or "
                      "one_device); drop --xla to train with several replicas")
    self.jit_compile = jit_compile
    self.ema = ema
    self.accumulation_steps = hparams.gradient_accumulation_steps
    with strategy.scope():
      self._make_variables(update_gate)
    self.run = self._compile()

  def _make_variables(self, update_gate):
    """The step's own state, in the strategy's scope."""
    hparams, model = self.hparams, self.model
    agg = tf.VariableAggregation.ONLY_FIRST_REPLICA
    self.nonfinite_run = tf.Variable(0, dtype=tf.int64, trainable=False, aggregation=agg)
    self.nonfinite_total = tf.Variable(0, dtype=tf.int64, trainable=False, aggregation=agg)
    # 1.0, or 0.0 during a multi-replica step whose loss was not finite (see _update).
    self.update_gate = (update_gate if update_gate is not None else
                        tf.Variable(1.0, trainable=False, aggregation=agg))
    self.loss_scale = None
    if mixed_precision.uses_loss_scaling(hparams):
      self.loss_scale = DynamicLossScale(
          hparams.mixed_precision_optimizer_init_loss_scale,
          hparams.mixed_precision_loss_scale_growth_steps)
    if self.accumulation_steps > 1:
      # Each replica sums its own micro-batches (ON_READ: replica-local values).
      local = dict(synchronization=tf.VariableSynchronization.ON_READ,
                   aggregation=tf.VariableAggregation.SUM,
                   trainable=False)
      self._sums = [tf.Variable(tf.zeros(v.shape, v.dtype), **local)
                    for v in model.trainable_variables]
      # loss sum, this replica's tokens, all replicas' tokens
      self._counts = [tf.Variable(0.0, **local) for _ in range(3)]

  def checkpoint_state(self):
    """Training state beside model and optimizer that checkpoints must hold."""
    state = {"loss_scale": self.loss_scale} if self.loss_scale is not None else {}
    if self.ema is not None:
      state[EMA_KEY] = self.ema.state
    return state

  def _clip_global_norm(self, ctx, grads):
    """Clips by the norm of the gradient summed over replicas (the optimizer sums the
    replicas' gradients after this, so clipping each replica's own would let the limit
    grow with the replica count)."""
    total = ctx.all_reduce(SUM, grads) if ctx.num_replicas_in_sync > 1 else grads
    norm = tf.linalg.global_norm(total)
    clip = self.hparams.clip_grad_norm
    return [g * (clip / tf.maximum(norm, clip)) for g in grads]

  def _gradients(self, features):
    """Forward and backward on one replica's batch: (loss sum, tokens, all replicas'
    tokens, gradients of the loss per global token, times the loss scale if any)."""
    ctx = tf.distribute.get_replica_context()
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape:
      loss_sum, weight = self.model.training_loss_sums(features)
      global_weight = ctx.all_reduce(SUM, weight)
      loss = loss_sum / tf.maximum(global_weight, 1.0)
      if self.loss_scale is not None:
        loss = self.loss_scale.scale_loss(loss)
    grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
    return loss_sum, weight, global_weight, grads

  def replica_step(self, features):
    """One step on one replica's batch (the closure a parameter-server worker runs)."""
    loss_sum, weight, _, grads = self._gradients(features)
    return self._update(grads, loss_sum, weight)

  def _replica_accumulate(self, features):
    """Adds one micro-batch. Its gradients are of its loss per its own token count (which
    keeps float16 gradients in range); times that count they sum to the gradient of the
    summed loss, divided by the total count in _replica_apply."""
    loss_sum, weight, global_weight, grads = self._gradients(features)
    for total, g in zip(self._sums, grads):
      total.assign_add(g * global_weight)
    for total, value in zip(self._counts, (loss_sum, weight, global_weight)):
      total.assign_add(value)

  def _replica_apply(self):
    loss_sum, weight, global_weight = (tf.identity(c.read_value()) for c in self._counts)
    scale = 1.0 / tf.maximum(global_weight, 1.0)
    grads = [tf.identity(total.read_value()) * scale for total in self._sums]
    with tf.control_dependencies(grads + [loss_sum, weight]):
      for total in self._sums + self._counts:
        total.assign(tf.zeros_like(total))
    return self._update(grads, loss_sum, weight)

  def _update(self, grads, loss_sum, weight):
    """Applies the gradients of one step unless they or the loss are not finite."""
    ctx = tf.distribute.get_replica_context()
    if self.loss_scale is not None:
      grads = self.loss_scale.unscale(grads)
    finite, overflow = self._finite(ctx, loss_sum, grads)
    if self.hparams.clip_grad_norm > 0:
      grads = self._clip_global_norm(ctx, grads)
    self._apply(finite, grads)
    self.global_step.assign_add(1)
    # A loss-scale overflow neither counts as a failure nor ends a run of failures.
    failed = tf.logical_not(tf.logical_or(finite, overflow))
    self.nonfinite_run.assign(
        tf.where(finite, tf.constant(0, tf.int64),
                 self.nonfinite_run + tf.cast(failed, tf.int64)))
    self.nonfinite_total.assign_add(tf.cast(failed, tf.int64))
    reported = tf.logical_or(finite, overflow)
    zero = tf.zeros_like(loss_sum)
    return tf.where(reported, loss_sum, zero), tf.where(reported, weight, zero)

  def _finite(self, ctx, loss_sum, grads):
    """(whether the loss and the gradients are finite on every replica, whether the loss
    scale, if any, overflowed)."""
    loss_finite = tf.math.is_finite(loss_sum)
    grads_finite = tf.math.is_finite(tf.linalg.global_norm(grads))
    if ctx.num_replicas_in_sync > 1:
      loss_finite, grads_finite = (
          ctx.all_reduce(SUM, tf.cast(tf.logical_not(ok), tf.float32)) == 0.0
          for ok in (loss_finite, grads_finite))
    finite = tf.logical_and(loss_finite, grads_finite)
    overflow = tf.constant(False)
    if self.loss_scale is not None:
      overflow = self.loss_scale.update(loss_finite, grads_finite)
    return finite, overflow

  def _apply(self, finite, grads):
    """The optimizer's update (and the EMA's) with `grads` where `finite`."""
    variables = self.model.trainable_variables
    optimizer = self.optimizer
    if self.allows.conditional_updates:
      def apply():
        optimizer.apply_gradients(zip(grads, variables))
        if self.ema is not None:
          self.ema.update()
        return tf.constant(True)
      tf.cond(finite, apply, lambda: tf.constant(False))
    else:
      # An optimizer step cannot sit in a tf.cond across replicas (it synchronizes them):
      # apply zero gradients at learning rate 0 instead. The weights stay as they are;
      # only the optimizer's moment estimates decay by one step.
      self.update_gate.assign(tf.cast(finite, tf.float32))
      grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
      optimizer.apply_gradients(zip(grads, variables))
      if self.ema is not None:
        self.ema.update(applied=finite)

  def _compile(self):
    strategy = self.strategy
    n = self.accumulation_steps

    def compiled(fn):
      if not self.jit_compile:
        return fn

      def traced_for_xla(*args, **kwargs):
        with dropout.compiled_by_xla():  # XLA compiles only TensorFlow's own ops
          return fn(*args, **kwargs)
      return tf.function(traced_for_xla, jit_compile=True)
    step = compiled(self.replica_step)
    accumulate = compiled(self._replica_accumulate)
    apply = compiled(self._replica_apply)

    @tf.function
    def run(iterator, num_steps):
      """Runs up to num_steps steps (fewer once too many in a row were non-finite);
      returns (loss summed over the finite ones' tokens, their token count)."""
      loss_total = tf.constant(0.0)
      weight_total = tf.constant(0.0)
      for _ in tf.range(num_steps):
        if self.nonfinite_run >= self.max_nonfinite_steps:
          break
        if n == 1:
          loss_sum, weight = strategy.run(step, args=(next(iterator),))
        else:
          for _ in tf.range(n):
            strategy.run(accumulate, args=(next(iterator),))
          loss_sum, weight = strategy.run(apply)
        loss_total += strategy.reduce(SUM, loss_sum, axis=None)
        weight_total += strategy.reduce(SUM, weight, axis=None)
      return loss_total, weight_total
    return run
