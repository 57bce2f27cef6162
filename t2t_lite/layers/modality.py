"""Symbol embeddings, split into shards, shared between inputs, targets and the softmax.

Tensor2Tensor's symbol modality: the [vocab, hidden] table is `symbol_modality_num_shards`
separate variables (so a parameter-server strategy can place them on different tasks),
looked up with tf.nn.embedding_lookup's 'div' partitioning (shard i holds a contiguous
block of rows, the first vocab % num_shards shards one row more). Embeddings are scaled by
sqrt(hidden_size) and padding embeds to zero.

placement="host" keeps the shards, and with them the optimizer's slots for them (Keras
creates slots beside their variable), in the host's CPU memory instead of the
accelerator's: a lookup gathers its rows on the host and only those rows travel; the
softmax (logits against the whole table) still reads the table from the host at every
step. Where the strategy allows it (host_device):

  default (one GPU)     yes: the shards on the host CPU, the rest on the GPU
  parameter_server      always: variables live on the ps tasks, in their host memory
  one_device, mirrored, no on GPUs or TPUs: the strategy puts every variable (a copy per
  multi_worker_mirrored, replica) on the replicas' devices; on CPUs that is host memory
  tpu                   already, and placement=host changes nothing
"""
import contextlib

import keras
import tensorflow as tf

from t2t_lite import metrics, options
from t2t_lite.errors import UserError
from t2t_lite.layers import strategy_allows
from t2t_lite.options import HParamsGroup, setting

PLACEMENTS = ("device", "host")


@options.hparams_group("modality")
class ModalityHParams(HParamsGroup):
  """How a model embeds symbols (a model that uses SharedEmbedding declares them)."""
  shared_embedding_and_softmax_weights: bool = setting(
      False, "one table for inputs, targets and the softmax")
  symbol_modality_num_shards: int = setting(1, "variables the embedding table is split into",
                                            minimum=1)
  embedding_placement: str = setting(
      "device", "where the embedding shards (and their optimizer slots) live: the "
      "replicas' devices, or the host's CPU memory where the strategy allows",
      choices=PLACEMENTS)
  multiply_embedding_mode: str = setting("sqrt_depth", "embedding scaling",
                                         choices=("sqrt_depth", "none"))


def host_device(allows: strategy_allows.StrategyAllows) -> str | None:
  """Where placement=host puts the tables under the strategy `allows` describes: a device
  to pin them to, or None when the strategy already keeps them in host memory. UserError
  where it cannot."""
  if allows.host_placement_refused:
    raise UserError(f"hparam embedding_placement=host: --strategy="
                    f"{allows.host_placement_refused} keeps every variable on its replicas' "
                    "devices (one copy each), so the embedding cannot stay in host memory; "
                    "use one GPU with --strategy=default, or parameter_server, or "
                    "embedding_placement=device")
  return allows.host_device


def _on(device):
  """tf.device(device), or nothing for None (tf.device(None) would clear the replica's
  device scope)."""
  return tf.device(device) if device else contextlib.nullcontext()


def shard_sizes(vocab_size, num_shards):
  num_shards = max(1, min(num_shards, vocab_size))  # never an empty shard
  return [vocab_size // num_shards + (1 if i < vocab_size % num_shards else 0)
          for i in range(num_shards)]


class SharedEmbedding(keras.layers.Layer):

  def build(self, *shapes, **kw):
    self.built = True  # weights are made in __init__; children build on first call
  """embed(ids) -> [.., hidden]; logits(x) -> [.., vocab] with the same table."""

  def __init__(self, vocab_size, hidden_size, num_shards=1, multiply_by_sqrt_depth=True,
               placement="device", **kwargs):
    super().__init__(**kwargs)
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.multiply_by_sqrt_depth = multiply_by_sqrt_depth
    # The device the shards are pinned to (placement=host), or None: the strategy's choice.
    self.host = host_device(strategy_allows.current()) if placement == "host" else None
    # One initializer per shard: a shared unseeded Keras initializer repeats its values.
    # Each shard is an attribute (weights_0, ...): checkpoints do not follow Keras lists.
    shards = []
    with _on(self.host):
      for i, rows in enumerate(shard_sizes(vocab_size, num_shards)):
        shard = self.add_weight(name=f"weights_{i}", shape=(rows, hidden_size),
                                initializer=keras.initializers.RandomNormal(
                                    0.0, hidden_size ** -0.5))
        setattr(self, f"weights_{i}", shard)
        shards.append(shard)
    self.shards = tuple(shards)

  def table(self):
    values = [s.value if hasattr(s, "value") else s for s in self.shards]
    with _on(self.host):
      return values[0] if len(values) == 1 else tf.concat(values, axis=0)

  def embed(self, ids, table=None):
    """ids -> [.., hidden]. `table`: this layer's table(), computed once outside a
    decoding loop; one gather from it replaces the partitioned lookup over the shards
    (a partition, a gather per shard and a stitch at every step)."""
    with _on(self.host):  # gathered where the table is; only the rows travel
      if table is not None:
        x = tf.gather(table, ids)
      else:
        values = [s.value if hasattr(s, "value") else s for s in self.shards]
        x = tf.nn.embedding_lookup(values if len(values) > 1 else values[0], ids)
    if self.multiply_by_sqrt_depth:
      x *= self.hidden_size ** 0.5
    return x * tf.cast(tf.not_equal(ids, 0), x.dtype)[..., None]

  def softmax_kernel(self, table=None):
    """The table as a [hidden, vocab] matmul kernel, for a decoding loop to compute once:
    at every step it would concatenate the shards again, and a plain matmul against a
    transposed copy is faster than one that transposes the table."""
    return tf.transpose(self.table() if table is None else table)

  def logits(self, x, kernel=None):
    """x [.., hidden] -> [.., vocab], as one 2-D matmul: a 3-D x against the 2-D table
    would broadcast, and its gradient would materialize one [vocab, hidden] product per
    batch row and sum them (the largest tensor and a tenth of a training step).
    `kernel`: softmax_kernel(), computed once outside a decoding loop."""
    x2 = tf.reshape(x, [-1, self.hidden_size])
    if kernel is None:
      logits = tf.matmul(x2, tf.cast(self.table(), x.dtype), transpose_b=True)
    else:
      logits = tf.matmul(x2, tf.cast(kernel, x.dtype))
    return tf.reshape(logits, tf.concat([tf.shape(x)[:-1], [self.vocab_size]], 0))

  def loss_sums(self, x, targets, label_smoothing):
    """(label-smoothed cross-entropy summed over the non-padding targets, their count) of
    logits(x): the same loss as metrics.smoothed_cross_entropy_sum(logits(x), ...), with
    the projection and the loss differentiated together (metrics.projected_smoothed_xent)
    so that training writes no gradient of the logits."""
    xent = metrics.projected_smoothed_xent(
        tf.reshape(x, [-1, self.hidden_size]), self.table(), tf.reshape(targets, [-1]),
        *metrics.label_smoothing_targets(self.vocab_size, label_smoothing))
    return metrics.masked_xent_sum(xent, targets, self.vocab_size, label_smoothing)
