"""How a training run uses its tf.distribute strategy: one Runner class per strategy family.

The Trainer (training/trainer.py) is the controller: the outer loop of checkpoints,
evaluations, summaries, logging and preemption. It never asks which strategy it runs
under; it calls the named methods of its Runner, and each family overrides the ones that
differ (as Orbit's StandardTrainer subclasses and OpenNMT-tf's per-strategy trainers do):

  Runner                  replicas in this process: default, one_device, mirrored, tpu.
                          Synchronous: the compiled loop runs N steps per call.
  MultiWorkerRunner       multi_worker_mirrored: every worker runs the same loop in lockstep
                          (collective all-reduce). Calls are agreed in size across workers;
                          every worker takes part in each save (only the chief's is kept);
                          only the chief writes summaries and evaluates.
  ParameterServerRunner   parameter_server: the chief schedules each step as a closure on
                          whichever worker is free; variables live on the ps tasks.
                          Asynchronous; a failed worker's closures are rescheduled.

Under the multi-process families evaluation runs on the chief alone, on a plain dataset,
with the model called directly (it reads the current variables, wherever they live).
"""
import hashlib
import shutil
import tempfile

import tensorflow as tf

from t2t_lite.errors import UserError
from t2t_lite.training import cluster
from t2t_lite.training.checkpoints import CheckpointKeeper
from t2t_lite.training.train_step import SUM, TrainStep


class Runner:
  """Replicas in this process (default, one_device, mirrored, tpu)."""

  def __init__(self, strategy: tf.distribute.Strategy):
    self.strategy = strategy

  @property
  def is_chief(self) -> bool:
    """Writes checkpoints and summaries, and evaluates."""
    return True

  def check_hparams(self, hparams):
    """Raises UserError for hparams this family cannot train with."""

  # -- input ----------------------------------------------------------------------------
  def train_iterator(self, dataset_fn):
    """An iterator over the training batches; dataset_fn(input_context) -> tf.data."""
    return iter(self.strategy.distribute_datasets_from_function(dataset_fn))

  def eval_batches(self, dataset_fn):
    return self.strategy.distribute_datasets_from_function(dataset_fn)

  def eval_fn(self, replica_sums):
    """tf.function(batch) -> metric sums over every replica; replica_sums(features)."""
    strategy = self.strategy

    # Buckets differ in shape: after the first retrace, trace with unknown dimensions.
    @tf.function(reduce_retracing=True)
    def eval_fn(features):
      sums = strategy.run(replica_sums, args=(features,))
      return {k: strategy.reduce(SUM, v, axis=None) for k, v in sums.items()}
    return eval_fn

  # -- steps ------------------------------------------------------------------------------
  def run_steps(self, train_step: TrainStep, iterator, num_steps: int) -> float:
    """Runs num_steps steps; returns the mean loss per token."""
    return float(train_step.run(iterator, tf.constant(num_steps)))

  # -- checkpoints and summaries ------------------------------------------------------------
  def save(self, keeper: CheckpointKeeper, step: int) -> str:
    return keeper.save(step)

  def agreed_step(self, step: int, output_dir: str) -> int:
    """The step every task restored (a single process agrees with itself)."""
    return step

  def summary_writer(self, path):
    return tf.summary.create_file_writer(path)

  def finish_training(self, model, log):
    """After a run reached its last step (or stopped early)."""

  def agreed_stop(self, reason: str | None) -> str | None:
    """After an evaluation: whether every task stops training now. `reason` is the chief's
    (which evaluated); the others pass None and learn the chief's decision."""
    return reason


class MultiWorkerRunner(Runner):
  """multi_worker_mirrored: workers in lockstep."""

  @property
  def is_chief(self):
    return cluster.is_chief()

  def run_steps(self, train_step, iterator, num_steps):
    # Every worker's compiled loop must run the same number of steps, or their
    # all-reduces do not pair up; each sized its call by its own clock.
    return super().run_steps(train_step, iterator, min(self._gather(int(num_steps))))

  def eval_batches(self, dataset_fn):
    return dataset_fn(None)

  def eval_fn(self, replica_sums):
    return tf.function(replica_sums, reduce_retracing=True)

  def save(self, keeper, step):
    if self.is_chief:
      return super().save(keeper, step)
    # The same save on every worker (it may need their collectives); the chief's is kept.
    scratch = tempfile.mkdtemp(prefix="t2t-worker-checkpoint-")
    try:
      CheckpointKeeper(keeper.checkpoint, scratch, 1, keeper.log).save(step)
    finally:
      shutil.rmtree(scratch, ignore_errors=True)
    return f"(the chief's checkpoint of step {step})"

  def agreed_step(self, step, output_dir):
    steps = self._gather(step)
    if len(set(steps)) > 1:
      raise UserError(f"the workers restored different steps {steps} from {output_dir}: "
                      "--output_dir must be storage that every worker reads (NFS, gs://)")
    return step

  def summary_writer(self, path):
    return super().summary_writer(path) if self.is_chief else tf.summary.create_noop_writer()

  def finish_training(self, model, log):
    self.check_replicas_agree(model, log)

  def agreed_stop(self, reason):
    # Only the chief evaluates; every worker must leave the training loop at the same
    # step, or the next step's all-reduces wait forever for the ones that left.
    if not any(self._gather(1 if reason else 0)):
      return None
    return reason or "the chief's evaluation ended training"

  def check_replicas_agree(self, model, log):
    """Logs whether every worker ends with bit-identical weights (they should: each
    applies the same all-reduced gradients); returns the fingerprints."""
    digest = hashlib.sha256()
    for v in model.weights:
      digest.update(v.numpy().tobytes())
    fingerprints = self._gather(int.from_bytes(digest.digest()[:7], "big"))
    if len(set(fingerprints)) == 1:
      log(f"all {len(fingerprints)} workers hold identical weights (fingerprint "
          f"{fingerprints[0]:014x})")
    else:
      log("WARNING: the workers' weights differ (fingerprints "
          f"{', '.join(f'{f:014x}' for f in fingerprints)})")
    return fingerprints

  def _gather(self, value):
    """[value of worker 0, value of worker 1, ...] (one entry per replica)."""
    def replica_fn():
      ctx = tf.distribute.get_replica_context()
      return ctx.all_gather(tf.constant([value], tf.int64), axis=0)
    result = self.strategy.experimental_local_results(self.strategy.run(replica_fn))[0]
    return [int(x) for x in result.numpy()]


class ParameterServerRunner(Runner):
  """parameter_server: the chief schedules steps on the workers."""

  def __init__(self, strategy):
    super().__init__(strategy)
    self.coordinator = tf.distribute.experimental.coordinator.ClusterCoordinator(strategy)
    self._one_step = None

  def check_hparams(self, hparams):
    if hparams.gradient_accumulation_steps > 1:
      # Each closure is one step on whichever worker is free; accumulating over several
      # would need per-worker accumulators that survive a worker's failure.
      raise UserError("gradient_accumulation_steps > 1 is not supported under "
                      "--strategy=parameter_server; use a larger batch_size or "
                      "multi_worker_mirrored")

  def train_iterator(self, dataset_fn):
    num_workers = len(cluster.tf_config()["cluster"]["worker"])

    def worker_dataset_fn(context):
      # Each worker reads its own shard of the data, as under the other strategies.
      index = tf.distribute.coordinator.experimental_get_current_worker_index()
      return dataset_fn(tf.distribute.InputContext(num_workers, index,
                                                   context.num_replicas_in_sync))

    @tf.function
    def per_worker_dataset():
      return self.strategy.distribute_datasets_from_function(worker_dataset_fn)
    return iter(self.coordinator.create_per_worker_dataset(per_worker_dataset))

  def eval_batches(self, dataset_fn):
    return dataset_fn(None)

  def eval_fn(self, replica_sums):
    return tf.function(replica_sums, reduce_retracing=True)

  def run_steps(self, train_step, iterator, num_steps):
    """One closure per step; global_step counts the steps the chief scheduled, so a
    closure rerun after its worker failed does not count twice."""
    if self._one_step is None:
      strategy = self.strategy

      @tf.function
      def one_step(iterator):
        loss_sum, weight = strategy.run(train_step.replica_step, args=(next(iterator),))
        return (strategy.reduce(SUM, loss_sum, axis=None),
                strategy.reduce(SUM, weight, axis=None))
      self._one_step = one_step
    start = int(train_step.global_step.numpy())
    results = [self.coordinator.schedule(self._one_step, args=(iterator,))
               for _ in range(int(num_steps))]
    self.coordinator.join()
    train_step.global_step.assign(start + int(num_steps))
    sums = [r.fetch() for r in results]
    return sum(float(loss) for loss, _ in sums) / max(sum(float(w) for _, w in sums), 1.0)
