"""How a training run uses its tf.distribute strategy: one Runner class per strategy family.

The Trainer (training/trainer.py) is the controller: the outer loop of checkpoints,
evaluations, summaries, logging and preemption. It never asks which strategy it runs
under; it calls the named methods of its Runner, and each family overrides the ones that
differ (as Orbit's StandardTrainer subclasses and OpenNMT-tf's per-strategy trainers do):

  Runner                  replicas in this process: default, one_device, mirrored.
                          Synchronous: the compiled loop runs N steps per call.
  TPURunner               tpu: as Runner, with tf.distribute's own input to the TPU cores.
  MultiWorkerRunner       multi_worker_mirrored: every worker runs the same loop in lockstep
                          (collective all-reduce). Calls are agreed in size across workers,
                          and so is a stop: a signal to any worker stops every worker after
                          the same step, with one save. Every worker takes part in each save
                          (only the chief's model is kept; each keeps its input position);
                          only the chief writes summaries and evaluates. A lost peer ends
                          the task with TaskLost, for the cluster to restart it.
  ParameterServerRunner   parameter_server: the chief schedules each step as a closure on
                          whichever worker is free; variables live on the ps tasks.
                          Asynchronous; a failed worker's closures are rescheduled; a failed
                          ps task ends the chief with TaskLost (its variables are gone: the
                          restarted cluster resumes from the last checkpoint).

The training input of Runner and MultiWorkerRunner is checkpointed (replica_input.py):
each process reads its pipeline through one tf.data iterator and deals its batches to its
replicas, so a resumed run reads what an uninterrupted one would have.

Under the multi-process families evaluation runs on the chief alone, on a plain dataset,
with the model called directly (it reads the current variables, wherever they live).
"""
import hashlib

import tensorflow as tf

from t2t_lite.errors import UserError
from t2t_lite.layers import strategy_allows
from t2t_lite.training import cluster, preemption, replica_input
from t2t_lite.training.checkpoints import CheckpointKeeper
from t2t_lite.training.train_step import SUM, TrainStep
from t2t_lite.training.worker_checkpoints import WorkerKeeper


class Runner:
  """Replicas in this process (default, one_device, mirrored)."""

  # The exit status of a run that saved and stopped on a signal before train_steps.
  stopped_exit_status = 0

  def __init__(self, strategy: tf.distribute.Strategy):
    self.strategy = strategy
    # What the strategy allows, for the step and the layers (they never ask tf.distribute).
    self.allows = strategy_allows.describe(strategy)

  @property
  def is_chief(self) -> bool:
    """Writes checkpoints and summaries, and evaluates."""
    return True

  def check_hparams(self, hparams):
    """Raises UserError for hparams this family cannot train with."""

  # -- input ----------------------------------------------------------------------------
  def train_iterator(self, dataset_fn):
    """An iterator over the training batches; dataset_fn(input_context) -> tf.data."""
    dataset = dataset_fn(replica_input.input_context(self.strategy))
    if self.strategy.num_replicas_in_sync == 1:
      return iter(dataset)  # checkpoints name it train_input, as they always did
    return replica_input.ReplicaBatches(self.strategy, dataset,
                                        self.strategy.num_replicas_in_sync)

  def train_keeper(self, state, iterator, output_dir, max_to_keep, log, optional=None):
    """The CheckpointKeeper of training: `state` and the position of `iterator`, and the
    `optional` state (CheckpointKeeper's) a resumed run may add."""
    position = replica_input.position(iterator)
    if position is not None:
      state = dict(state, train_input=position)
    else:
      log("WARNING: this strategy's input iterator cannot be checkpointed; a resumed run "
          "starts the training input afresh")
    return CheckpointKeeper(tf.train.Checkpoint(**state), output_dir, max_to_keep, log,
                            optional=optional)

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
  def run_steps(self, train_step: TrainStep, iterator,
                num_steps: int) -> tuple[float, float]:
    """Runs num_steps steps; returns (their loss summed over tokens, the token count)."""
    loss_sum, tokens = train_step.run(iterator, tf.constant(num_steps))
    return float(loss_sum), float(tokens)

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

  def agreed_stop(self, reason):
    """Whether every task stops training now (a true value: why), given this task's
    `reason` to stop (a signal received: True; after an evaluation, the chief's listeners'
    reason; nothing: None or False). A single process agrees with itself; every task of a
    synchronous cluster stops after the same step when any task has a reason, since the
    next step's all-reduces would wait forever for the ones that left."""
    return reason or None


class TPURunner(Runner):
  """tpu: tf.distribute's own input to the TPU cores (its position is not checkpointed)."""

  def train_iterator(self, dataset_fn):
    return iter(self.strategy.distribute_datasets_from_function(dataset_fn))


class MultiWorkerRunner(Runner):
  """multi_worker_mirrored: workers in lockstep."""

  # Every task stops when one is signalled; each must be started again (not "done").
  stopped_exit_status = preemption.RESTART_EXIT_STATUS

  def __init__(self, strategy):
    super().__init__(strategy)
    self._gather_fn = None

  @property
  def is_chief(self):
    return cluster.is_chief()

  def train_iterator(self, dataset_fn):
    rank, num_workers = cluster.worker_rank()
    dataset = dataset_fn(replica_input.input_context(self.strategy, num_workers, rank))
    return replica_input.ReplicaBatches(self.strategy, dataset,
                                        len(self.strategy.extended.worker_devices))

  def train_keeper(self, state, iterator, output_dir, max_to_keep, log, optional=None):
    rank, num_workers = cluster.worker_rank()
    return WorkerKeeper(state, iterator.iterator, output_dir, max_to_keep, log,
                        self._gather, self.is_chief, rank, num_workers, optional=optional)

  def run_steps(self, train_step, iterator, num_steps):
    # Every worker's compiled loop must run the same number of steps, or their
    # all-reduces do not pair up; each sized its call by its own clock.
    num_steps = min(self._gather(int(num_steps)))
    with preemption.peer_failures_lose_the_task("a task of the cluster failed or restarted"):
      return super().run_steps(train_step, iterator, num_steps)

  def eval_batches(self, dataset_fn):
    return dataset_fn(None)

  def eval_fn(self, replica_sums):
    return tf.function(replica_sums, reduce_retracing=True)

  def save(self, keeper, step):
    with preemption.peer_failures_lose_the_task("a task of the cluster failed while saving"):
      return keeper.save(step)

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
    # Only the chief evaluates, and a signal may reach one task only: any task's reason
    # stops every task after this step.
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
    if self._gather_fn is None:
      strategy = self.strategy

      def replica_fn(x):
        # tf.identity places the value on the replica's device (the collective needs one).
        return tf.distribute.get_replica_context().all_gather(tf.identity(x), axis=0)

      @tf.function  # traced once; eager collectives are slow and retrace every call
      def gather(x):
        return strategy.run(replica_fn, args=(x,))
      self._gather_fn = gather
    with preemption.peer_failures_lose_the_task("a task of the cluster failed or restarted"):
      result = self.strategy.experimental_local_results(
          self._gather_fn(tf.constant([value], tf.int64)))[0]
      return [int(x) for x in result.numpy()]


class ParameterServerRunner(Runner):
  """parameter_server: the chief schedules steps on the workers."""

  # A stopped chief must be started again, or the cluster would count the run as done.
  stopped_exit_status = preemption.RESTART_EXIT_STATUS

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

  def train_keeper(self, state, iterator, output_dir, max_to_keep, log, optional=None):
    # Asynchronous steps read the workers' iterators in no fixed order: there is no
    # position a resumed run could reproduce.
    log("NOTE: parameter_server training is asynchronous; a resumed run starts the "
        "workers' training input afresh")
    return CheckpointKeeper(tf.train.Checkpoint(**state), output_dir, max_to_keep, log,
                            optional=optional)

  def eval_batches(self, dataset_fn):
    return dataset_fn(None)

  def eval_fn(self, replica_sums):
    return tf.function(replica_sums, reduce_retracing=True)

  def save(self, keeper, step):
    with preemption.peer_failures_lose_the_task("a ps task of the cluster failed while "
                                                "saving"):
      return keeper.save(step)

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
    # A failed worker's closures are rescheduled; a failed ps task loses the variables.
    with preemption.peer_failures_lose_the_task("a ps task of the cluster failed (its "
                                                "variables are lost)"):
      results = [self.coordinator.schedule(self._one_step, args=(iterator,))
                 for _ in range(int(num_steps))]
      self.coordinator.join()
      train_step.global_step.assign(start + int(num_steps))
      sums = [r.fetch() for r in results]
    return sum(float(loss) for loss, _ in sums), sum(float(w) for _, w in sums)
