"""tf.data pipeline: TFRecords -> parsed examples -> length buckets -> padded batches.

batch_size counts tokens per replica, as in Tensor2Tensor: an example's length is the
longer of its inputs and targets, examples are grouped into length buckets, and a bucket
whose longest example has L tokens is batched batch_size // L examples at a time. In
training, examples longer than max_length (or batch_size when max_length is 0) are dropped.
"""
import tensorflow as tf

from t2t_lite import machine, options
from t2t_lite.data import packing, sortagrad
from t2t_lite.data.problem import EXAMPLE_SEED
from t2t_lite.errors import UserError
from t2t_lite.options import setting


@options.group("make_dataset")  # the gin name config.gin files have always used
class InputOptions(options.Options):
  """How the training input is read (gin: make_dataset.shuffle_buffer_size = 500)."""
  shuffle_buffer_size: int = setting(10000, "Training examples shuffled together (per "
                                     "input pipeline).", flag="", minimum=1)
  # The buffer is part of the training input's position, which every checkpoint saves:
  # 10,000 utterances of audio are 1.2 GB per checkpoint, 10,000 sentences a few MB.
  shuffle_buffer_megabytes: int = setting(
      64, "At most this many megabytes of serialized examples in the shuffle buffer "
      "(fewer examples than shuffle_buffer_size when examples are large, such as audio): "
      "checkpoints save the buffer.", flag="", minimum=1)


DEFAULT_INPUT = InputOptions()


def bucket_boundaries(max_length, min_length=8, length_bucket_step=1.1):
  """Tensor2Tensor's geometric bucket boundaries below max_length."""
  if length_bucket_step <= 1.0:
    raise UserError(f"hparam length_bucket_step must be > 1.0, got {length_bucket_step}")
  x, boundaries = min_length, []
  while x < max_length:
    boundaries.append(x)
    x = max(x + 1, int(x * length_bucket_step))
  return boundaries


def batching_scheme(batch_size, max_length, min_length_bucket, length_bucket_step):
  """(boundaries, batch sizes) for bucket_by_sequence_length. A bucket holds examples of
  length < its boundary; its batch size keeps the padded batch within batch_size tokens."""
  max_length = max_length or batch_size
  boundaries = bucket_boundaries(max_length, min_length_bucket, length_bucket_step)
  # The last bucket holds everything from the last boundary up to max_length.
  batch_sizes = [max(1, batch_size // max(1, b - 1)) for b in boundaries]
  batch_sizes.append(max(1, batch_size // max_length))
  return boundaries, batch_sizes


def example_length(example):
  length = tf.shape(example["targets"])[0]
  if "inputs" in example:
    length = tf.maximum(length, tf.shape(example["inputs"])[0])
  return length


def make_dataset(problem, hparams, data_dir, split, training, seed=None,
                 input_context=None, batch_size=None, input_options=DEFAULT_INPUT):
  """The batched dataset of one split of `problem`.

  Training data is shuffled (seeded when `seed` is given) and repeats forever; eval data
  is read once, in order. Under a distribution strategy, `input_context` shards the files
  across input pipelines. A problem whose files come in groups with rates (a mixture's
  members: Problem.weighted_data_files) is sampled by rate in training."""
  batch_size = batch_size or hparams.batch_size
  groups = problem.weighted_data_files(data_dir, split)
  parts = [_records(files, training, seed, input_context,
                    shuffle_buffer(files, input_options) if training else 0)
           for _, files in groups]
  if len(parts) == 1:
    ds = parts[0]
  elif training:
    ds = sample_by_rate(parts, [rate for rate, _ in groups], seed)
  else:
    ds = parts[0]
    for part in parts[1:]:
      ds = ds.concatenate(part)
  sorted_epochs = hparams.sortagrad_epochs if training and split == "train" else 0
  if sorted_epochs and hparams.packed_length:
    raise UserError("hparam sortagrad_epochs needs unpacked batches (packed_length=0)")
  ds = _batches(ds, problem, hparams, training, batch_size, seed)
  if sorted_epochs:  # SortaGrad: shortest first, then the shuffled input above
    ds = _batches(sortagrad.sorted_examples(problem, data_dir, sorted_epochs, input_context),
                  problem, hparams, training, batch_size,
                  None if seed is None else seed + 1).concatenate(ds)
  return _with_threads(ds.prefetch(tf.data.AUTOTUNE))


def _batches(ds, problem, hparams, training, batch_size, seed=None):
  """Serialized examples -> model features, batched (by length buckets, or packed)."""
  if training and problem.uses_example_seeds(hparams):
    # Each example's seed is the next of a seeded stream, as sample_by_rate's choices:
    # the same for the same seed, and a resumed run continues the stream.
    ds = tf.data.Dataset.zip(ds, tf.data.Dataset.random(seed=seed))
    parse = parse_fn(problem, hparams, training)
    ds = ds.map(lambda serialized, example_seed: parse(serialized, example_seed),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  else:
    ds = ds.map(parse_fn(problem, hparams, training), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
  if training and hparams.packed_length:
    return _packed_batches(ds, hparams.packed_length, batch_size)
  max_length = hparams.max_length or batch_size
  if training or hparams.eval_drop_long_sequences:
    ds = ds.filter(lambda ex: example_length(ex) <= max_length)
  else:
    # Eval keeps every example; very long ones get a bucket of batch size 1.
    max_length = max(max_length, 1 << 16)
  boundaries, batch_sizes = batching_scheme(batch_size, max_length,
                                            hparams.min_length_bucket,
                                            hparams.length_bucket_step)
  return ds.bucket_by_sequence_length(example_length, boundaries, batch_sizes,
                                      drop_remainder=False)


def _with_threads(ds):
  """The pipeline runs in a private pool sized from the cores (machine.py), beside the
  training step's pools rather than in them; each of its ops on one thread."""
  opts = tf.data.Options()
  opts.threading.private_threadpool_size = machine.input_threads()
  opts.threading.max_intra_op_parallelism = 1
  return ds.with_options(opts)


def shuffle_buffer(files, input_options, sample=16):
  """shuffle_buffer_size, or fewer examples when that many would exceed
  shuffle_buffer_megabytes (the size of an example estimated from the first records)."""
  try:
    # Eagerly even where the input is built inside a tf.function (ParameterServerStrategy's
    # dataset functions); a damaged file is named later by the pipeline itself.
    with tf.init_scope():
      sizes = [len(r) for r in
               tf.data.TFRecordDataset(files[:1]).take(sample).as_numpy_iterator()]
  except tf.errors.OpError:
    sizes = []
  if not sizes:
    return input_options.shuffle_buffer_size
  fits = input_options.shuffle_buffer_megabytes * (1 << 20) * len(sizes) // sum(sizes)
  return max(1, min(input_options.shuffle_buffer_size, fits))


def _records(files, training, seed, input_context, shuffle_buffer_size):
  """The serialized examples of `files`: sharded over input pipelines, shuffled and
  repeated (training)."""
  ds = tf.data.Dataset.from_tensor_slices(files)
  if input_context and input_context.num_input_pipelines > 1:
    if len(files) >= input_context.num_input_pipelines:
      ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
  if training:
    ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
  ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 4),
                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  if input_context and input_context.num_input_pipelines > 1 and \
      len(files) < input_context.num_input_pipelines:
    ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
  if training:
    ds = ds.shuffle(shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True)
  return ds


def sample_by_rate(datasets, rates, seed=None):
  """Examples drawn from `datasets` (each repeating), each next one from dataset i with
  probability rates[i] / sum(rates). The choices come from a seeded random stream inside
  the pipeline, so they are the same for the same seed and the training input's
  checkpoint carries their position (a resumed run continues the same sequence)."""
  total = float(sum(rates))
  bounds = tf.constant([sum(rates[:i + 1]) / total for i in range(len(rates) - 1)],
                       tf.float64)

  def choose(random):
    # Dataset.random yields uniform 32-bit values (as int64).
    uniform = tf.cast(random % (1 << 32), tf.float64) / float(1 << 32)
    return tf.cast(tf.searchsorted(bounds, uniform[None], side="right")[0], tf.int64)

  choices = tf.data.Dataset.random(seed=seed).map(choose)
  return tf.data.Dataset.choose_from_datasets(datasets, choices)


def _packed_batches(ds, length, batch_size):
  """Rows of `length` tokens packing several examples, batch_size // length rows a batch
  (examples longer than a row are dropped)."""
  ds = ds.filter(lambda ex: example_length(ex) <= length)
  keys = sorted(ds.element_spec)
  ds = packing.pack_dataset(ds, keys, length)
  return ds.batch(max(1, batch_size // length), drop_remainder=True)


def parse_fn(problem, hparams, training):
  """Serialized example (and its seed, for problems that use_example_seeds) -> model
  features (the problem's decoding and preprocessing)."""
  def parse(serialized, example_seed=None):
    example = problem.decode_example(serialized)
    if example_seed is not None:
      example[EXAMPLE_SEED] = example_seed
    return problem.preprocess_example(example, training, hparams)
  return parse


def find_corrupt_file(problem, files):
  """The first of `files` that cannot be read and parsed to the end (None if all can)."""
  for path in files:
    try:
      for _ in tf.data.TFRecordDataset(path).map(problem.decode_example):
        pass
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError):
      return path
  return None


def check_some_examples_fit(problem, hparams, files, sample=1000):
  """Training drops examples longer than max_length; if none in a sample of the data fits,
  the repeating input would spin forever, so say so instead. Reads until the first example
  that fits (usually the first), through tf.data: parsing examples one by one in eager
  mode cost seconds at every start."""
  max_length = hparams.packed_length or hparams.max_length or hparams.batch_size
  parse = parse_fn(problem, hparams, training=False)
  lengths = tf.data.TFRecordDataset(files[:1]).take(sample).map(
      lambda record: example_length(parse(record)))
  shortest, read = None, 0
  try:
    for length in lengths.as_numpy_iterator():
      if length <= max_length:
        return
      shortest, read = min(length, shortest or length), read + 1
  except (tf.errors.DataLossError, tf.errors.InvalidArgumentError):
    return  # a damaged file: training reports it, naming the file

  if read:
    raise UserError(f"no training example fits max_length={max_length} (the shortest of "
                    f"{read} read has {shortest} tokens); raise hparam max_length "
                    "or batch_size")
