import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.data import input_pipeline


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  from t2t_lite.problems import algorithmic
  d = tmp_path_factory.mktemp("data")
  old = algorithmic.AlgorithmicProblem.train_size, algorithmic.AlgorithmicProblem.dev_size
  algorithmic.AlgorithmicProblem.train_size, algorithmic.AlgorithmicProblem.dev_size = 2000, 300
  try:
    registry.problem("algorithmic_reverse_decimal40").generate_data(str(d), log=lambda *a: None)
  finally:
    algorithmic.AlgorithmicProblem.train_size, algorithmic.AlgorithmicProblem.dev_size = old
  return str(d)


def test_boundaries_match_tensor2tensor():
  assert input_pipeline.bucket_boundaries(20) == [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
  b = input_pipeline.bucket_boundaries(256)
  assert b[0] == 8 and b[-1] < 256 and all(y > x for x, y in zip(b, b[1:]))


def test_batches_stay_within_token_budget_and_drop_long_examples(data_dir):
  problem = registry.problem("algorithmic_reverse_decimal40")
  hp = registry.hparams("transformer_tiny")
  hp.parse("batch_size=256,max_length=30")
  ds = input_pipeline.make_dataset(problem, hp, data_dir, "train", training=True, seed=1)
  for batch in ds.take(30):
    b, t = batch["targets"].shape
    assert b * t <= 256 + 30  # the last bucket may round up by one example
    assert t <= 30 and batch["inputs"].shape[1] <= 30


def test_eval_reads_every_example_once(data_dir):
  problem = registry.problem("algorithmic_reverse_decimal40")
  hp = registry.hparams("transformer_tiny")
  hp.parse("batch_size=128,max_length=10")  # eval keeps examples longer than max_length
  n = sum(int(b["targets"].shape[0]) for b in
          input_pipeline.make_dataset(problem, hp, data_dir, "dev", training=False))
  assert n == 300


def test_seeded_training_batches_repeat(data_dir):
  problem = registry.problem("algorithmic_reverse_decimal40")
  hp = registry.hparams("transformer_tiny")
  hp.batch_size = 256

  def first(seed):
    ds = input_pipeline.make_dataset(problem, hp, data_dir, "train", training=True, seed=seed)
    return [b["inputs"].numpy().tolist() for b in ds.take(3)]
  assert first(7) == first(7)


def test_missing_data_is_a_clear_error(tmp_path):
  from t2t_lite.errors import UserError
  problem = registry.problem("algorithmic_reverse_decimal40")
  hp = registry.hparams("transformer_tiny")
  with pytest.raises(UserError, match="t2t-datagen --problem=algorithmic_reverse_decimal40"):
    input_pipeline.make_dataset(problem, hp, str(tmp_path), "train", training=True)


def test_the_pipeline_runs_in_its_own_pool_sized_from_the_cores(data_dir):
  from t2t_lite import machine
  problem = registry.problem("algorithmic_reverse_decimal40")
  hp = registry.hparams("transformer_tiny")
  ds = input_pipeline.make_dataset(problem, hp, data_dir, "train", training=True, seed=1)
  threading = ds.options().threading
  assert threading.private_threadpool_size == machine.input_threads() >= 1
  assert threading.max_intra_op_parallelism == 1


def _records_file(path, sizes):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for size in sizes:
      writer.write(b"x" * size)
  return str(path)


def test_shuffle_buffer_is_capped_in_megabytes_for_large_examples(tmp_path):
  # Audio-sized examples (512 KiB): a 2 MB cap holds 4 of them, not 10,000.
  audio = [_records_file(tmp_path / "audio", [1 << 19] * 20)]
  options = input_pipeline.InputOptions(shuffle_buffer_megabytes=2)
  assert input_pipeline.shuffle_buffer(audio, options) == 4
  # Sentence-sized examples keep the declared count.
  text = [_records_file(tmp_path / "text", [100] * 20)]
  assert input_pipeline.shuffle_buffer(text, options) == 10000
  assert input_pipeline.shuffle_buffer(text, input_pipeline.InputOptions(
      shuffle_buffer_size=7)) == 7


def test_shuffle_buffer_is_estimated_inside_a_tf_function_and_past_a_damaged_file(tmp_path):
  audio = [_records_file(tmp_path / "audio", [1 << 19] * 20)]
  options = input_pipeline.InputOptions(shuffle_buffer_megabytes=2)

  @tf.function
  def traced():  # as ParameterServerStrategy builds its input
    return tf.constant(input_pipeline.shuffle_buffer(audio, options))
  assert int(traced()) == 4
  damaged = tmp_path / "damaged"
  damaged.write_bytes(open(audio[0], "rb").read()[:20] + b"\0" * 64)
  assert input_pipeline.shuffle_buffer([str(damaged)], options) == 10000
