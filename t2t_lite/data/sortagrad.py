"""SortaGrad (Amodei et al., 2016): the first epoch(s) of training read the examples
shortest first, a curriculum that steadies CTC training early on; later epochs shuffle.

TFRecord shards cannot be read in an arbitrary order, so the sorted order is written once:
a copy of the train split, sorted by each example's length (Problem.sort_length), as
`<problem>-train_sorted-NNNNN-of-MMMMM` beside the train shards (an external merge sort:
each shard sorted in memory, then all merged, so memory holds one shard at a time). A
manifest names the shards it was sorted from; new or changed shards make a new copy. It
costs the disk space of the train split. The input pipeline reads it in order, batched by
length buckets as usual, then continues with the usual shuffled, repeating input; both
are tf.data datasets, so the position is checkpointed and a resumed run continues exactly.
"""
import heapq
import json
import os

import tensorflow as tf

from t2t_lite.data import generator_utils

SPLIT = "train_sorted"


def _manifest_path(problem, data_dir):
  return os.path.join(data_dir, f"{problem.name}-{SPLIT}.json")


def _sources(files):
  return [[os.path.basename(f), tf.io.gfile.stat(f).length] for f in files]


def _lengths_and_records(problem, path):
  ds = tf.data.TFRecordDataset(path)
  ds = ds.map(lambda r: (problem.sort_length(problem.decode_example(r)), r))
  return [(int(n), r) for n, r in ds.as_numpy_iterator()]


def sorted_train_files(problem, data_dir, log=print):
  """The files of the train split sorted by length, written on first use."""
  files = problem.data_files(data_dir, "train")
  manifest = _manifest_path(problem, data_dir)
  if tf.io.gfile.exists(manifest):
    with tf.io.gfile.GFile(manifest) as f:
      stored = json.load(f)
    paths = [os.path.join(data_dir, name) for name in stored["files"]]
    if stored["sources"] == _sources(files) and all(tf.io.gfile.exists(p) for p in paths):
      return paths
  log(f"SortaGrad: sorting the train split of {problem.name} by length into {data_dir} "
      "(once)")
  tmp = f"{manifest}.{os.getpid()}.tmp"
  runs, lengths = [], []
  for i, path in enumerate(files):  # sorted runs, one shard in memory at a time
    pairs = sorted(_lengths_and_records(problem, path), key=lambda p: p[0])
    run = f"{tmp}.run{i}"
    with tf.io.TFRecordWriter(run) as writer:
      for _, record in pairs:
        writer.write(record)
    runs.append(run)
    lengths.append([n for n, _ in pairs])

  def run_items(i):
    for position, record in enumerate(tf.data.TFRecordDataset(runs[i]).as_numpy_iterator()):
      yield lengths[i][position], i, position, record
  outputs = generator_utils.shard_filenames(data_dir, problem.name, SPLIT, len(files))
  total = sum(len(n) for n in lengths)
  per_shard = -(-total // len(outputs))
  writers = [tf.io.TFRecordWriter(f"{p}.{os.getpid()}.tmp") for p in outputs]
  # Merged in (length, shard, position) order: stable, the same on every rerun.
  for n, item in enumerate(heapq.merge(*(run_items(i) for i in range(len(runs))))):
    writers[n // per_shard].write(item[3])
  for writer, path in zip(writers, outputs):
    writer.close()
    tf.io.gfile.rename(f"{path}.{os.getpid()}.tmp", path, overwrite=True)
  for run in runs:
    tf.io.gfile.remove(run)
  with tf.io.gfile.GFile(tmp, "w") as f:
    json.dump({"sources": _sources(files),
               "files": [os.path.basename(p) for p in outputs], "examples": total}, f)
  tf.io.gfile.rename(tmp, manifest, overwrite=True)
  return outputs


def sorted_examples(problem, data_dir, epochs, input_context=None):
  """The serialized train examples, shortest first, `epochs` times over (each input
  pipeline of several reads every n-th one, keeping the order)."""
  ds = tf.data.TFRecordDataset(sorted_train_files(problem, data_dir))
  if input_context and input_context.num_input_pipelines > 1:
    ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
  return ds.repeat(epochs)
