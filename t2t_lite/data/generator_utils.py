"""Writing generated samples into sharded TFRecord files of tf.train.Examples."""
import contextlib
import os

import tensorflow as tf

from t2t_lite.data import manifest
from t2t_lite.errors import UserError


def to_example(features):
  """A dict of name -> list of ints (or a str) as a serialized tf.train.Example."""
  feature = {}
  for name, value in features.items():
    if isinstance(value, (str, bytes)):
      v = value.encode("utf-8") if isinstance(value, str) else value
      feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))
    elif value and isinstance(value[0], float):
      feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=value))
    else:
      feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=value))
  # deterministic: map entries in key order, so the same samples give the same bytes in
  # every process (reruns of datagen reproduce the checksums in the manifest).
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(
      deterministic=True)


def shard_filenames(data_dir, problem_name, split, num_shards):
  """Tensor2Tensor's names: <problem>-<split>-00000-of-00010."""
  return [os.path.join(data_dir, f"{problem_name}-{split}-{i:05d}-of-{num_shards:05d}")
          for i in range(num_shards)]


def write_shards(samples, paths):
  """Writes samples round-robin into `paths`; returns each shard's manifest entry.

  Each file appears only when complete: all are written under temporary names, and
  renamed once every one is closed (so an interrupted run never leaves a shard that looks
  finished; the split's manifest, written after this returns, is what marks it whole). A
  failed write (a full disk) removes the temporary files and is one UserError."""
  tmp_paths = [p + manifest.INCOMPLETE for p in paths]
  writers = [tf.io.TFRecordWriter(p) for p in tmp_paths]
  counts = [0] * len(paths)
  try:
    for sample in samples:
      i = sum(counts) % len(writers)
      example = to_example(sample)
      with explained_write_errors(tmp_paths[i]):
        writers[i].write(example)
      counts[i] += 1
    for i, w in enumerate(writers):
      with explained_write_errors(tmp_paths[i]):
        w.close()  # flushes: a full disk may show only now
    shards = [manifest.describe(tmp, n, os.path.basename(final))
              for tmp, final, n in zip(tmp_paths, paths, counts)]
  except (Exception, KeyboardInterrupt):  # (a killed process cleans nothing: reruns do)
    for w in writers:
      try:
        w.close()
      except tf.errors.OpError:
        pass  # the error that matters is being raised
    for tmp in tmp_paths:  # frees the space a full disk needs; a rerun rewrites the split
      if tf.io.gfile.exists(tmp):
        tf.io.gfile.remove(tmp)
    raise
  for tmp, final in zip(tmp_paths, paths):
    tf.io.gfile.rename(tmp, final, overwrite=True)
  return shards


@contextlib.contextmanager
def explained_write_errors(path):
  """A failed write of datagen's (a full disk, a quota, permissions) as one UserError."""
  try:
    yield
  except (tf.errors.OpError, OSError) as e:
    reason = (e.message if isinstance(e, tf.errors.OpError) else str(e)).strip()
    reason = reason.splitlines()[0].replace(path + "; ", "")[:120]
    raise UserError(f"could not write {path} ({reason}): free space in "
                    f"{os.path.dirname(path)} and rerun the same command; splits already "
                    "complete are kept and this one is rewritten") from None

