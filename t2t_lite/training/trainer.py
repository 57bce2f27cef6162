"""The training loop: a custom TF2 loop inside tf.function under a tf.distribute strategy.

One Trainer owns the model, optimizer, checkpoints and summaries of one output_dir. The
loss of a step is the label-smoothed cross-entropy summed over the non-padding target
tokens of every replica, divided by the global count of such tokens, so it does not
depend on how the batch is split over replicas.
"""
import math
import os
import time

import tensorflow as tf

from t2t_lite import metrics
from t2t_lite.data import input_pipeline
from t2t_lite.errors import UserError
from t2t_lite.training import learning_rate, optimizers

SUM = tf.distribute.ReduceOp.SUM


def _format_eta(seconds):
  seconds = int(seconds)
  if seconds >= 3600:
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
  return f"{seconds // 60}m{seconds % 60:02d}s"


def build_model(model_cls, hparams):
  """The model, with an hparams set that lacks something the model reads reported as a
  user error rather than an AttributeError."""
  try:
    return model_cls(hparams)
  except AttributeError as e:
    if "HParams" in str(e):
      raise UserError(f"model {model_cls.__name__} needs an hparam the hparams set lacks "
                      f"({e}); use one of the model's own sets, e.g. transformer_tiny for "
                      "transformer") from None
    raise


class Trainer:

  def __init__(self, problem, model_cls, hparams, output_dir, data_dir, train_steps,
               strategy=None, eval_steps=100, local_eval_frequency=1000,
               keep_checkpoint_max=20, log_step_count_steps=100, seed=None,
               eval_split="dev", log=print):
    self.problem, self.hparams = problem, hparams
    self.output_dir, self.data_dir = output_dir, data_dir
    self.train_steps = train_steps
    self.eval_steps = eval_steps
    self.local_eval_frequency = max(1, local_eval_frequency)
    self.log_step_count_steps = max(1, log_step_count_steps)
    self.seed = seed
    self.eval_split = eval_split
    self.log = log
    self.strategy = strategy or tf.distribute.get_strategy()
    metrics.check_names(problem.eval_metrics, problem.name)
    splits = [name for name, _ in problem.dataset_splits]
    if eval_split not in splits:
      raise UserError(f"--eval_split={eval_split}: problem '{problem.name}' has splits "
                      f"{', '.join(splits)}")
    with self.strategy.scope():
      self.model = build_model(model_cls, hparams)
      self.model.build_from_features(self._dummy_features())
      self.schedule = learning_rate.FactorSchedule(hparams, train_steps)
      self.optimizer = optimizers.make_optimizer(hparams, self.schedule)
      self.optimizer.build(self.model.trainable_variables)
      self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                          global_step=self.global_step)
    self.manager = tf.train.CheckpointManager(self.checkpoint, output_dir,
                                              max_to_keep=keep_checkpoint_max,
                                              checkpoint_name="model.ckpt")
    self._train_fn = None
    self._eval_fn = None
    self._writers = {}

  # -- setup ------------------------------------------------------------------------------
  def _dummy_features(self):
    features = {"targets": tf.ones([1, 1], tf.int32)}
    if self.problem.has_inputs:
      features["inputs"] = tf.ones([1, 1], tf.int32)
    return features

  def restore(self, checkpoint_path=None):
    """Restores the given or the latest checkpoint; returns its step (0 if none)."""
    path = checkpoint_path or self.manager.latest_checkpoint
    if path:
      self.checkpoint.restore(path).expect_partial()
      self.log(f"restored {path} (step {int(self.global_step.numpy())})")
    return int(self.global_step.numpy())

  def _writer(self, name):
    if name not in self._writers:
      path = self.output_dir if name == "train" else os.path.join(self.output_dir, name)
      self._writers[name] = tf.summary.create_file_writer(path)
    return self._writers[name]

  def _dataset(self, split, training):
    def fn(input_context=None):
      return input_pipeline.make_dataset(self.problem, self.hparams, self.data_dir, split,
                                         training, seed=self.seed, input_context=input_context)
    self.problem.data_files(self.data_dir, split)  # a clear error before tf.data starts
    return self.strategy.distribute_datasets_from_function(fn)

  # -- training ---------------------------------------------------------------------------
  def _replica_step(self, features):
    model, optimizer = self.model, self.optimizer
    ctx = tf.distribute.get_replica_context()
    with tf.GradientTape() as tape:
      logits = model(features, training=True)
      loss_sum, weight = model.loss_sums(logits, features)
      global_weight = ctx.all_reduce(SUM, weight)
      loss = loss_sum / tf.maximum(global_weight, 1.0)
    variables = model.trainable_variables
    grads = tape.gradient(loss, variables)
    if self.hparams.clip_grad_norm > 0:
      grads = self._clip_global_norm(ctx, grads)
    optimizer.apply_gradients(zip(grads, variables))
    self.global_step.assign_add(1)
    return loss_sum, weight

  def _clip_global_norm(self, ctx, grads):
    """Clips by the norm of the gradient summed over replicas (the optimizer sums the
    replicas' gradients after this, so clipping each replica's own would let the limit
    grow with the replica count)."""
    grads = [tf.convert_to_tensor(g) for g in grads]
    total = ctx.all_reduce(SUM, grads) if ctx.num_replicas_in_sync > 1 else grads
    norm = tf.linalg.global_norm(total)
    clip = self.hparams.clip_grad_norm
    scale = clip / tf.maximum(norm, clip)
    return [g * scale for g in grads]

  def _make_train_fn(self):
    strategy = self.strategy

    @tf.function
    def train_fn(iterator, num_steps):
      loss_total = tf.constant(0.0)
      weight_total = tf.constant(0.0)
      for _ in tf.range(num_steps):
        loss_sum, weight = strategy.run(self._replica_step, args=(next(iterator),))
        loss_total += strategy.reduce(SUM, loss_sum, axis=None)
        weight_total += strategy.reduce(SUM, weight, axis=None)
      return loss_total / tf.maximum(weight_total, 1.0)
    return train_fn

  def train(self, eval_fn=None, until_step=None):
    """Trains to train_steps (or until_step), saving a checkpoint every
    local_eval_frequency steps and at the end; calls eval_fn after each save."""
    target = until_step or self.train_steps
    step = int(self.global_step.numpy())
    if step >= target:
      self.log(f"step {step} >= train_steps {target}: nothing to train")
      return step
    if self._train_fn is None:
      self._train_fn = self._make_train_fn()
    iterator = iter(self._dataset("train", training=True))
    writer = self._writer("train")
    self.log(f"training from step {step} to {target}")
    last_time, last_step = time.time(), step
    start_time, start_step = last_time, step
    while step < target:
      # Run up to the next log or checkpoint boundary inside one tf.function call.
      next_log = (step // self.log_step_count_steps + 1) * self.log_step_count_steps
      next_save = (step // self.local_eval_frequency + 1) * self.local_eval_frequency
      chunk = min(next_log, next_save, target) - step
      loss = float(self._train_fn(iterator, tf.constant(chunk)))
      step = int(self.global_step.numpy())
      if not math.isfinite(loss):
        raise UserError(f"loss became {loss} at step {step}; lower the learning rate "
                        "(--hparams=learning_rate_constant=...) or check the data. The last "
                        f"checkpoint in {self.output_dir} is intact")
      now = time.time()
      if step % self.log_step_count_steps == 0 or step == target:
        rate = (step - last_step) / max(now - last_time, 1e-9)
        overall = (step - start_step) / max(now - start_time, 1e-9)
        lr = float(self.schedule(self.optimizer.iterations - 1))
        self.log(f"step {step}/{target}  loss {loss:.4f}  lr {lr:.3g}  "
                 f"{rate:.2f} steps/s  ETA {_format_eta((target - step) / max(overall, 1e-9))}")
        with writer.as_default(step=step):
          tf.summary.scalar("loss", loss)
          tf.summary.scalar("learning_rate", lr)
          tf.summary.scalar("global_step/sec", rate)
        last_time, last_step = now, step
      if step % self.local_eval_frequency == 0 or step == target:
        self.save()
        if eval_fn is not None:
          eval_fn()
        last_time = time.time()  # eval time is not training time
    writer.flush()
    return step

  def save(self):
    step = int(self.global_step.numpy())
    path = self.manager.save(checkpoint_number=step)
    self.log(f"saved checkpoint {path}")
    return path

  # -- evaluation -------------------------------------------------------------------------
  def _make_eval_fn(self):
    strategy = self.strategy

    def replica_eval(features):
      logits = self.model(features, training=False)
      return metrics.metric_sums(logits, features["targets"])

    # Buckets differ in shape: after the first retrace, trace with unknown dimensions.
    @tf.function(reduce_retracing=True)
    def eval_fn(features):
      sums = strategy.run(replica_eval, args=(features,))
      return {k: strategy.reduce(SUM, v, axis=None) for k, v in sums.items()}
    return eval_fn

  def evaluate(self):
    """Teacher-forced metrics over eval_steps batches of the eval split (all if 0)."""
    if self._eval_fn is None:
      self._eval_fn = self._make_eval_fn()
    totals = None
    for i, features in enumerate(self._dataset(self.eval_split, training=False)):
      if self.eval_steps and i >= self.eval_steps:
        break
      sums = self._eval_fn(features)
      totals = sums if totals is None else {k: totals[k] + sums[k] for k in totals}
    if totals is None:
      raise UserError(f"the {self.eval_split} split of '{self.problem.name}' in "
                      f"{self.data_dir} is empty; regenerate the data")
    results = metrics.finalize(totals, self.problem.eval_metrics)
    step = int(self.global_step.numpy())
    self.log(f"eval at step {step} ({self.eval_split}, {int(totals['sequences'])} examples): " +
             "  ".join(f"{k} {v:.4f}" for k, v in results.items()))
    with self._writer("eval").as_default(step=step):
      for k, v in results.items():
        tf.summary.scalar(f"metrics/{k}", v)
    self._writer("eval").flush()
    return results

  # -- schedules --------------------------------------------------------------------------
  def train_and_evaluate(self):
    """Trains, evaluating at every checkpoint; returns the last eval's metrics."""
    self.restore()
    if int(self.global_step.numpy()) >= self.train_steps:
      return self.evaluate()
    results = {}
    self.train(eval_fn=lambda: results.update(self.evaluate()))
    return results

  def continuous_eval(self, timeout_secs=3600, poll_secs=10):
    """Evaluates each new checkpoint until one reaches train_steps (or timeout)."""
    last, waited, results = None, 0.0, None
    while True:
      # Another process writes the checkpoints: read the directory, not our manager.
      path = tf.train.latest_checkpoint(self.output_dir)
      if path and path != last:
        step = self.restore(path)
        results, last, waited = self.evaluate(), path, 0.0
        if step >= self.train_steps:
          return results
      elif waited >= timeout_secs:
        self.log(f"no new checkpoint in {timeout_secs}s; stopping continuous_eval")
        return results
      time.sleep(poll_secs)
      waited += poll_secs
