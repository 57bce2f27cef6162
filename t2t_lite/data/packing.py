"""Packing: several short examples in one fixed-length row, for batches without padding waste.

Examples are appended to the current row until the next one does not fit (in any feature);
then the row is emitted and a new one starts. Each packed feature `f` gets `f_segmentation`
(1, 2, ... per example, 0 for padding) and `f_position` (positions restarting at 0 in every
example), which the model uses to keep attention and positions within each example. The
packer is a tf.data scan, so it runs in the input pipeline and its state is part of the
input's checkpoint. (At the end of a finite dataset the last, partly filled row is dropped:
packing is for the repeating training input.)
"""
import tensorflow as tf


def _empty_row(keys, length):
  zeros = tf.zeros([length], tf.int32)
  row = {"count": tf.constant(0, tf.int32)}
  for k in keys:
    row.update({k: zeros, f"{k}_segmentation": zeros, f"{k}_position": zeros,
                f"{k}_fill": tf.constant(0, tf.int32)})
  return row


def _append(row, example, keys):
  """`row` with `example` written after its current contents (which it must fit)."""
  row = dict(row)
  segment = row["count"] + 1
  for k in keys:
    n = tf.shape(example[k])[0]
    where = (row[f"{k}_fill"] + tf.range(n))[:, None]
    row[k] = tf.tensor_scatter_nd_update(row[k], where, example[k])
    row[f"{k}_segmentation"] = tf.tensor_scatter_nd_update(
        row[f"{k}_segmentation"], where, tf.fill([n], segment))
    row[f"{k}_position"] = tf.tensor_scatter_nd_update(row[f"{k}_position"], where,
                                                       tf.range(n))
    row[f"{k}_fill"] += n
  row["count"] = segment
  return row


def pack_dataset(ds, keys, length):
  """Packs a dataset of examples (dicts of 1-D int32 features `keys`, each at most
  `length` long) into rows of `length` tokens per feature."""
  keys = tuple(keys)
  empty = _empty_row(keys, length)

  def step(row, example):
    fits = tf.reduce_all([row[f"{k}_fill"] + tf.shape(example[k])[0] <= length
                          for k in keys])
    emit = tf.logical_and(tf.logical_not(fits), row["count"] > 0)
    # When the example does not fit, the finished row goes out and a new one starts.
    start = tf.nest.map_structure(lambda old, new: tf.where(fits, old, new), row, empty)
    return _append(start, example, keys), (emit, row)

  packed = ds.scan(empty, step).filter(lambda emit, row: emit)
  out_keys = [k + suffix for k in keys for suffix in ("", "_segmentation", "_position")]
  return packed.map(lambda emit, row: {k: row[k] for k in out_keys},
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
