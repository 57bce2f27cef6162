"""The Trainer under the multi-process strategies.

multi_worker_mirrored: every worker runs the same loop in lockstep (collective all-reduce).
All of them take part in each checkpoint save, as TensorFlow requires, but only the chief's
files are kept; the others write to a temporary directory and delete it. Only the chief
writes summaries and evaluates. Every worker restores from the shared output_dir.

parameter_server: only the chief runs this loop. Each step is a closure that
ClusterCoordinator schedules on whichever worker is free; the variables live on the ps
tasks. A worker that fails loses nothing: its closures are rescheduled on the others.
Training is asynchronous (each closure is one worker's step on the current variables).

Under both, evaluation runs on the chief alone, on a plain dataset, with the model called
directly (it reads the current variables, wherever they live).
"""
import hashlib
import shutil
import tempfile

import tensorflow as tf

from t2t_lite import metrics
from t2t_lite.data import input_pipeline
from t2t_lite.errors import UserError
from t2t_lite.training import cluster
from t2t_lite.training.checkpoints import CheckpointKeeper
from t2t_lite.training.train_step import SUM
from t2t_lite.training.trainer import Trainer


def trainer_class(strategy):
  """The Trainer (sub)class for `strategy`."""
  if isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy):
    return ParameterServerTrainer
  if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return MultiWorkerTrainer
  return Trainer


class _ChiefEval:
  """Evaluation on this process alone: a plain eval dataset and a direct model call."""

  def _dataset(self, split, training):
    if training:
      return super()._dataset(split, training)
    self.problem.data_files(self.data_dir, split)  # a clear error before tf.data starts
    return input_pipeline.make_dataset(self.problem, self.hparams, self.data_dir, split,
                                       training=False, seed=self.seed)

  def _make_eval_fn(self):
    @tf.function(reduce_retracing=True)
    def eval_fn(features):
      return metrics.metric_sums(self.model(features, training=False), features["targets"])
    return eval_fn


class MultiWorkerTrainer(_ChiefEval, Trainer):

  def __init__(self, *args, **kwargs):
    self.is_chief = cluster.is_chief()
    super().__init__(*args, **kwargs)
    self.step_fn = _AgreedChunks(self.step_fn, self._gather)

  def _writer(self, name):
    if not self.is_chief:
      return tf.summary.create_noop_writer()
    return super()._writer(name)

  def save(self):
    if self.is_chief:
      return super().save()
    # Same save on every worker (it may need their collectives); the chief's is the one.
    step = int(self.global_step.numpy())
    self._train_iterator()
    scratch = tempfile.mkdtemp(prefix="t2t-worker-checkpoint-")
    try:
      CheckpointKeeper(self.keeper.checkpoint, scratch, 1, self.log).save(step)
    finally:
      shutil.rmtree(scratch, ignore_errors=True)
    return f"(the chief's checkpoint of step {step})"

  def evaluate(self):
    return super().evaluate() if self.is_chief else {}

  def restore(self, checkpoint_path=None, with_input=True):
    step = super().restore(checkpoint_path, with_input)
    steps = self._gather(step)
    if len(set(steps)) > 1:
      raise UserError(f"the workers restored different steps {steps} from {self.output_dir}: "
                      "--output_dir must be storage that every worker reads (NFS, gs://)")
    return step

  def train(self, eval_fn=None, until_step=None):
    step = super().train(eval_fn, until_step)
    if self.stop_signal is None:
      self.check_replicas_agree()
    return step

  def check_replicas_agree(self):
    """Logs whether every worker ends with bit-identical weights (they should: each
    applies the same all-reduced gradients); returns the fingerprints."""
    digest = hashlib.sha256()
    for v in self.model.weights:
      digest.update(v.numpy().tobytes())
    fingerprints = self._gather(int.from_bytes(digest.digest()[:7], "big"))
    if len(set(fingerprints)) == 1:
      self.log(f"all {len(fingerprints)} workers hold identical weights (fingerprint "
               f"{fingerprints[0]:014x})")
    else:
      self.log("WARNING: the workers' weights differ (fingerprints "
               f"{', '.join(f'{f:014x}' for f in fingerprints)})")
    return fingerprints

  def _gather(self, value):
    """[value of worker 0, value of worker 1, ...] (one entry per replica)."""
    def replica_fn():
      ctx = tf.distribute.get_replica_context()
      return ctx.all_gather(tf.constant([value], tf.int64), axis=0)
    result = self.strategy.experimental_local_results(self.strategy.run(replica_fn))[0]
    return [int(x) for x in result.numpy()]


class _AgreedChunks:
  """The compiled loop with the same number of steps per call on every worker: their
  collectives pair up call by call, and each worker sizes its calls by its own clock."""

  def __init__(self, train_step, gather):
    self.train_step, self.gather = train_step, gather

  def __getattr__(self, name):
    return getattr(self.train_step, name)

  def run(self, iterator, num_steps):
    agreed = min(self.gather(int(num_steps)))
    return self.train_step.run(iterator, tf.constant(agreed))


class ScheduledSteps:
  """TrainStep's replica step as one ClusterCoordinator closure per step.

  Has the attributes of TrainStep the Trainer reads. global_step counts the steps the
  chief scheduled: a closure rerun after its worker failed does not count twice."""

  def __init__(self, train_step, coordinator):
    self.train_step, self.coordinator = train_step, coordinator
    self.nonfinite_run = train_step.nonfinite_run
    self.nonfinite_total = train_step.nonfinite_total
    self.max_nonfinite_steps = train_step.max_nonfinite_steps
    strategy = train_step.strategy

    @tf.function
    def one_step(iterator):
      loss_sum, weight = strategy.run(train_step._replica_step, args=(next(iterator),))
      return strategy.reduce(SUM, loss_sum, axis=None), strategy.reduce(SUM, weight, axis=None)
    self._one_step = one_step

  def __getattr__(self, name):  # the rest of what the Trainer reads (loss_scale, ...)
    return getattr(self.train_step, name)

  def run(self, iterator, num_steps):
    """Runs num_steps steps on the workers; returns the mean loss per token."""
    global_step = self.train_step.global_step
    start = int(global_step.numpy())
    results = [self.coordinator.schedule(self._one_step, args=(iterator,))
               for _ in range(int(num_steps))]
    self.coordinator.join()
    global_step.assign(start + int(num_steps))
    sums = [r.fetch() for r in results]
    return sum(float(l) for l, _ in sums) / max(sum(float(w) for _, w in sums), 1.0)


class ParameterServerTrainer(_ChiefEval, Trainer):

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    if self.hparams.get("gradient_accumulation_steps", 1) > 1:
      # Each closure is one step on whichever worker is free; accumulating over several
      # would need per-worker accumulators that survive a worker's failure.
      raise UserError("gradient_accumulation_steps > 1 is not supported under "
                      "--strategy=parameter_server; use a larger batch_size or "
                      "multi_worker_mirrored")
    self.coordinator = tf.distribute.experimental.coordinator.ClusterCoordinator(self.strategy)
    self.step_fn = ScheduledSteps(self.step_fn, self.coordinator)

  def _dataset(self, split, training):
    if not training:
      return super()._dataset(split, training)
    self.problem.data_files(self.data_dir, split)
    num_workers = len(cluster.tf_config()["cluster"]["worker"])

    def dataset_fn(context):
      # Each worker reads its own shard of the data, as under the other strategies.
      index = tf.distribute.coordinator.experimental_get_current_worker_index()
      shard = tf.distribute.InputContext(num_workers, index, context.num_replicas_in_sync)
      return input_pipeline.make_dataset(self.problem, self.hparams, self.data_dir, split,
                                         training=True, seed=self.seed, input_context=shard)

    @tf.function
    def per_worker_dataset():
      return self.strategy.distribute_datasets_from_function(dataset_fn)
    return self.coordinator.create_per_worker_dataset(per_worker_dataset)
