"""Writing generated samples into sharded TFRecord files of tf.train.Examples."""
import os

import tensorflow as tf


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
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def shard_filenames(data_dir, problem_name, split, num_shards):
  """Tensor2Tensor's names: <problem>-<split>-00000-of-00010."""
  return [os.path.join(data_dir, f"{problem_name}-{split}-{i:05d}-of-{num_shards:05d}")
          for i in range(num_shards)]


def write_shards(samples, paths):
  """Writes samples round-robin into `paths`. Each file appears only when complete
  (written under a temporary name, then renamed), so an interrupted run never leaves a
  shard that looks finished. Returns the number of samples written."""
  tmp_paths = [p + ".incomplete" for p in paths]
  writers = [tf.io.TFRecordWriter(p) for p in tmp_paths]
  n = 0
  try:
    for sample in samples:
      writers[n % len(writers)].write(to_example(sample))
      n += 1
  finally:
    for w in writers:
      w.close()
  for tmp, final in zip(tmp_paths, paths):
    tf.io.gfile.rename(tmp, final, overwrite=True)
  return n


def shards_exist(paths):
  return all(tf.io.gfile.exists(p) for p in paths)
