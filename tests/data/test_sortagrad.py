"""SortaGrad: sortagrad_epochs=1 reads the train split once shortest first (every example
once), then the usual shuffled input; the position is checkpointed like the rest."""
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.data import input_pipeline, sortagrad
from tests import speech_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  root = tmp_path_factory.mktemp("sortagrad")
  corpus = speech_data.write_corpus(str(root / "corpus"), num_train=40, num_dev=4, seed=3)
  problem = registry.problem("speech_manifest")
  problem.configure(f"train_manifest={corpus['train']},dev_manifest={corpus['dev']},"
                    "lm_order=0")
  data_dir = str(root / "data")
  problem.generate_data(data_dir, log=lambda m: None)
  hp = registry.hparams("deep_speech2_tiny")
  hp.batch_size, hp.min_length_bucket, hp.sortagrad_epochs = 400, 20, 1
  problem.update_hparams(hp, data_dir)
  lengths = sorted(int(ex["inputs_length"]) for ex in tf.data.TFRecordDataset(
      problem.data_files(data_dir, "train")).map(
          input_pipeline.parse_fn(problem, hp, training=False)))
  return problem, hp, data_dir, lengths


def _batches(problem, hp, data_dir):
  return iter(input_pipeline.make_dataset(problem, hp, data_dir, "train", training=True,
                                          seed=1))


def test_first_epoch_reads_every_example_once_shortest_first(data):
  problem, hp, data_dir, lengths = data
  it, seen, maxima = _batches(problem, hp, data_dir), [], []
  while len(seen) < len(lengths):
    batch = next(it)["inputs_length"].numpy().tolist()
    seen += batch
    maxima.append(max(batch))
  assert sorted(seen) == lengths  # the whole split, nothing twice
  # Batches come shortest first; each length bucket's last, partial batch (at most one per
  # bucket) comes when the sorted epoch ends.
  boundaries = input_pipeline.batching_scheme(hp.batch_size, hp.max_length,
                                              hp.min_length_bucket, hp.length_bucket_step)[0]
  full = maxima[:len(maxima) - (len(boundaries) + 1)]
  assert len(full) >= 3 and full == sorted(full), maxima
  # Then the usual shuffled input: its first batches are not sorted.
  after = [max(next(it)["inputs_length"].numpy()) for _ in range(8)]
  assert after != sorted(after)


def test_sorted_copy_is_written_once_and_renewed_when_the_data_changes(data):
  problem, _, data_dir, _ = data
  first = sortagrad.sorted_train_files(problem, data_dir)
  stamps = [tf.io.gfile.stat(f).mtime_nsec for f in first]
  again = sortagrad.sorted_train_files(problem, data_dir, log=pytest.fail)  # no re-sort
  assert again == first and [tf.io.gfile.stat(f).mtime_nsec for f in again] == stamps
  lengths = [int(problem.sort_length(problem.decode_example(r)))
             for r in tf.data.TFRecordDataset(first)]
  assert lengths == sorted(lengths)


def test_resumes_exactly_from_a_checkpointed_position(data, tmp_path):
  problem, hp, data_dir, _ = data
  it = _batches(problem, hp, data_dir)
  for _ in range(3):
    next(it)
  path = tf.train.Checkpoint(input=it).save(str(tmp_path / "input"))
  expected = [next(it)["inputs"].numpy() for _ in range(12)]  # across the epoch's end
  resumed = _batches(problem, hp, data_dir)
  tf.train.Checkpoint(input=resumed).restore(path)
  for want in expected:
    np.testing.assert_array_equal(next(resumed)["inputs"].numpy(), want)
