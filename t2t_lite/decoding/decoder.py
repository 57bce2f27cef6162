"""Decoding a trained model: text lines in, detokenized text out.

Inputs are encoded with the problem's vocabulary, sorted by length into batches (so little
is spent on padding), decoded with greedy or beam search in one traced function, and put
back in their original order.
"""
import sys

import tensorflow as tf

from t2t_lite import mixed_precision
from t2t_lite.data.text_encoder import EOS_ID, strip_ids
from t2t_lite.errors import UserError
from t2t_lite.hparams_lib import HParams


def decode_hparams(overrides=""):
  """Tensor2Tensor's --decode_hparams: search settings, not model settings."""
  hp = HParams(
      beam_size=4,        # 1 means greedy search
      alpha=0.6,          # length penalty exponent: ((5 + length) / 6) ** alpha
      extra_length=50,    # outputs may be this much longer than their input
      batch_size=32,      # sentences per decoding batch
      num_samples=100,    # dataset decoding: how many examples (-1: all)
      use_cache=True,     # cached keys/values (same result, faster)
  )
  try:
    hp.parse(overrides)
  except UserError as e:
    raise UserError(str(e).replace("--hparams", "--decode_hparams")) from None
  for name, low in (("beam_size", 1), ("extra_length", 0), ("batch_size", 1)):
    if getattr(hp, name) < low:
      raise UserError(f"--decode_hparams {name}={getattr(hp, name)} must be >= {low}")
  if hp.alpha < 0:
    raise UserError(f"--decode_hparams alpha={hp.alpha} must be >= 0")
  return hp


class Decoder:

  def __init__(self, problem, model_cls, hparams, data_dir, checkpoint_path, dhp):
    self.problem, self.hparams, self.dhp = problem, hparams, dhp
    self.encoders = problem.feature_encoders(data_dir)
    self.data_dir = data_dir
    if not problem.has_inputs:
      raise UserError(f"problem '{problem.name}' has no inputs to decode from")
    for feature, key in (("inputs", "input_vocab_size"), ("targets", "target_vocab_size")):
      size = self.encoders[feature].vocab_size
      if size != getattr(hparams, key):
        raise UserError(f"the {feature} vocabulary in {data_dir} has {size} tokens but the "
                        f"model was trained with {getattr(hparams, key)}; pass the --data_dir "
                        "the run was trained with")
    model_cls.validate_hparams(hparams)
    with mixed_precision.policy_scope(hparams):  # as it was trained
      self.model = model_cls(hparams)
    self.model.build_from_features({"inputs": tf.ones([1, 1], tf.int32),
                                    "targets": tf.ones([1, 1], tf.int32)})
    status = tf.train.Checkpoint(model=self.model).restore(checkpoint_path).expect_partial()
    try:
      status.assert_existing_objects_matched()
    except AssertionError:
      raise UserError(f"checkpoint {checkpoint_path} does not hold this model's weights "
                      "(different hparams or model?); decode with the run's own "
                      "hparams.json") from None

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def decode_batch(inputs):
      return self.model.infer(inputs, beam_size=dhp.beam_size, alpha=dhp.alpha,
                              extra_length=dhp.extra_length, use_cache=dhp.use_cache)
    self._decode_batch = decode_batch

  def encode_line(self, line, where):
    try:
      return self.encoders["inputs"].encode(line) + [EOS_ID]
    except ValueError as e:
      raise UserError(f"{where}: {e} of problem '{self.problem.name}'") from None

  def decode_ids(self, id_lists):
    """Decodes encoded inputs (each ending with EOS); returns output id lists in order."""
    order = sorted(range(len(id_lists)), key=lambda i: len(id_lists[i]))
    outputs = [None] * len(id_lists)
    bs = max(1, self.dhp.batch_size)
    for start in range(0, len(order), bs):
      batch = [id_lists[i] for i in order[start:start + bs]]
      width = max(len(x) for x in batch)
      padded = tf.constant([x + [0] * (width - len(x)) for x in batch], tf.int32)
      ids, _ = self._decode_batch(padded)
      for i, row in zip(order[start:start + bs], ids.numpy().tolist()):
        outputs[i] = strip_ids(row)
    return outputs

  def decode_lines(self, lines, source="input"):
    encoded = [self.encode_line(line.strip(), f"{source} line {n + 1}")
               for n, line in enumerate(lines)]
    return [self.encoders["targets"].decode(ids) for ids in self.decode_ids(encoded)]

  def decode_from_file(self, path, out_path=None):
    if not tf.io.gfile.exists(path):
      raise UserError(f"--decode_from_file={path} does not exist")
    with tf.io.gfile.GFile(path, "rb") as f:
      raw = f.read()
    try:
      lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
      line = raw[:e.start].count(b"\n") + 1
      raise UserError(f"{path} line {line} is not UTF-8 text") from None
    outputs = self.decode_lines(lines, source=path)
    text = "".join(o + "\n" for o in outputs)
    if out_path:
      tmp = out_path + ".tmp"
      with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(text)
      tf.io.gfile.rename(tmp, out_path, overwrite=True)
    else:
      sys.stdout.write(text)
    return outputs

  def interactive(self, stdin=sys.stdin, stdout=sys.stdout):
    """Reads one input per line until EOF and answers each at once."""
    prompt = stdin.isatty()
    while True:
      if prompt:
        stdout.write("> ")
        stdout.flush()
      line = stdin.readline()
      if not line:
        return
      try:
        stdout.write(self.decode_lines([line], source="stdin")[0] + "\n")
      except UserError as e:
        stdout.write(f"error: {e}\n")
      stdout.flush()

  def decode_dataset(self, split="dev", log=print):
    """Decodes examples of a split, printing input, target and output; returns the
    fraction of outputs that equal their targets exactly."""
    # Examples in file order (the bucketed training pipeline would favour long ones).
    files = self.problem.data_files(self.data_dir, split)
    ds = tf.data.TFRecordDataset(files).map(self.problem.decode_example)
    if self.dhp.num_samples >= 0:
      ds = ds.take(self.dhp.num_samples)
    examples = [{k: strip_ids(v.numpy()) for k, v in ex.items()} for ex in ds]
    outputs = self.decode_ids([ex["inputs"] + [EOS_ID] for ex in examples])
    exact = 0
    for ex, out in zip(examples, outputs):
      exact += out == ex["targets"]
      log(f"INPUT:  {self.encoders['inputs'].decode(ex['inputs'])}")
      log(f"TARGET: {self.encoders['targets'].decode(ex['targets'])}")
      log(f"OUTPUT: {self.encoders['targets'].decode(out)}")
    accuracy = exact / max(len(examples), 1)
    log(f"decoded {len(examples)} {split} examples: exact match {accuracy:.4f}")
    return accuracy


def find_checkpoint(output_dir, checkpoint_path=None):
  path = checkpoint_path or tf.train.latest_checkpoint(output_dir)
  if not path:
    raise UserError(f"no checkpoint in {output_dir}; train first (t2t-trainer) or pass "
                    "--checkpoint_path")
  if not tf.io.gfile.exists(path + ".index"):
    raise UserError(f"checkpoint {path} does not exist")
  return path

