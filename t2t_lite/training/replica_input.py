"""The training input of this process's replicas, as one checkpointable tf.data iterator.

tf.distribute's own distributed iterators cannot be saved in a checkpoint (TF 2.21), so a
multi-replica run resumed from one would read its input afresh. Instead each process reads
its input pipeline (the dataset_fn of its InputContext: pipeline `rank` of `num_pipelines`,
one per worker) through one plain tf.data iterator, which tf.train.Checkpoint saves with
its position, shuffle buffers and packer state, and hands consecutive batches to its local
replicas: of each group of `local_replicas` batches, replica i gets batch i, as
MirroredStrategy's own iterator does. A resumed run therefore gives every replica the
batches an uninterrupted one would have.
"""
import tensorflow as tf


def input_context(strategy: tf.distribute.Strategy, num_pipelines: int = 1,
                  rank: int = 0) -> tf.distribute.InputContext:
  """The InputContext of this process's pipeline (pipeline `rank` of `num_pipelines`)."""
  return tf.distribute.InputContext(num_input_pipelines=num_pipelines,
                                    input_pipeline_id=rank,
                                    num_replicas_in_sync=strategy.num_replicas_in_sync)


class ReplicaBatches:
  """next() -> this process's replicas' batches: a batch with one local replica, else a
  PerReplica value (strategy.run gives each replica its own). `iterator` is the tf.data
  iterator that checkpoints save."""

  def __init__(self, strategy: tf.distribute.Strategy, dataset: tf.data.Dataset,
               local_replicas: int):
    self.strategy = strategy
    self.local_replicas = local_replicas
    self.iterator = iter(dataset)

  def __iter__(self):
    return self

  def __next__(self):
    batches = [next(self.iterator) for _ in range(self.local_replicas)]
    if self.local_replicas == 1:
      return batches[0]
    # Called once per local replica, inside that replica's device scope; the replica id is
    # global (worker rank * local replicas + local index) under multi_worker_mirrored.
    return self.strategy.experimental_distribute_values_from_function(
        lambda context: tf.nest.map_structure(
            tf.identity, batches[context.replica_id_in_sync_group % self.local_replicas]))


def position(iterator) -> tf.data.Iterator | None:
  """The tf.data iterator whose state is the input's position (what checkpoints save), or
  None for an iterator that cannot be saved (tf.distribute's own)."""
  if isinstance(iterator, ReplicaBatches):
    return iterator.iterator
  return iterator if isinstance(iterator, tf.__internal__.tracking.Trackable) else None
