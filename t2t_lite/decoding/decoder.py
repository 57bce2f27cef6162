"""Decoding a trained model: text lines in, detokenized text out.

Inputs are encoded with the problem's vocabulary, sorted by length into batches (so little
is spent on padding), decoded with greedy or beam search in one traced function, and put
back in their original order.
"""
import sys

import tensorflow as tf

from t2t_lite import mixed_precision
from t2t_lite.data.text_encoder import EOS_ID, strip_ids, write_text_atomically
from t2t_lite.decoding import bleu
from t2t_lite.decoding.batching import map_length_sorted
from t2t_lite.errors import UserError
from t2t_lite.hparams_lib import HParams


def decode_hparams(overrides=""):
  """Tensor2Tensor's --decode_hparams: search settings, not model settings."""
  hp = HParams(
      beam_size=4,        # 1 means greedy search (or sampling)
      alpha=0.6,          # length penalty exponent: ((5 + length) / 6) ** alpha
      extra_length=50,    # outputs may be this much longer than their input (or prompt)
      batch_size=32,      # sentences per decoding batch
      num_samples=100,    # dataset decoding: how many examples (-1: all)
      use_cache=True,     # cached keys/values (same result, faster)
      sampling_method="argmax",  # or "random": sample each symbol (needs beam_size=1)
      sampling_temp=1.0,         # random sampling from softmax(logits / sampling_temp)
      sampling_keep_top_k=-1,    # random sampling among the k likeliest symbols (-1: all)
      sampling_seed=0,           # the same seed gives the same samples
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
  if hp.sampling_method not in ("argmax", "random"):
    raise UserError(f"--decode_hparams sampling_method={hp.sampling_method} must be argmax "
                    "or random")
  if hp.sampling_method == "random" and hp.beam_size != 1:
    raise UserError("--decode_hparams sampling_method=random samples one output: set "
                    "beam_size=1")
  if hp.sampling_temp <= 0:
    raise UserError(f"--decode_hparams sampling_temp={hp.sampling_temp} must be > 0")
  return hp


def load_model(problem, model_cls, hparams, data_dir, checkpoint_path):
  """The model of a run, restored from checkpoint_path, with its vocabularies checked."""
  encoders = problem.feature_encoders(data_dir)
  for feature, key in (("inputs", "input_vocab_size"), ("targets", "target_vocab_size")):
    size = encoders[feature].vocab_size
    if size != getattr(hparams, key):
      raise UserError(f"the {feature} vocabulary in {data_dir} has {size} tokens but the "
                      f"model was trained with {getattr(hparams, key)}; pass the --data_dir "
                      "the run was trained with")
  model_cls.validate_hparams(hparams)
  model = restored_model(model_cls, hparams, checkpoint_path, problem.has_inputs)
  return model, encoders


def restored_model(model_cls, hparams, checkpoint_path, has_inputs=True):
  """A model built from hparams with the weights of checkpoint_path (which must hold
  them all)."""
  with mixed_precision.policy_scope(hparams):  # in the dtypes it was trained in
    model = model_cls(hparams)
  model.build_from_features(model.dummy_features(has_inputs))
  try:
    tf.train.Checkpoint(model=model).restore(checkpoint_path).expect_partial() \
        .assert_existing_objects_matched()
  except (AssertionError, ValueError):  # missing objects, or shapes that differ
    raise UserError(f"checkpoint {checkpoint_path} does not hold this model's weights "
                    "(different hparams or model?); decode with the run's own "
                    "hparams.json") from None
  return model


class Decoder:
  """Decodes text with a model: sources of a translation model, or prompts of a language
  model (which its outputs continue; an empty prompt samples from scratch)."""

  def __init__(self, problem, model, encoders, dhp, data_dir=None):
    self.problem, self.model, self.encoders, self.dhp = problem, model, encoders, dhp
    self.data_dir = data_dir
    self.prompts = not problem.has_inputs
    random = dhp.sampling_method == "random"

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def decode_batch(inputs):
      return self.model.infer(inputs, beam_size=dhp.beam_size, alpha=dhp.alpha,
                              extra_length=dhp.extra_length, use_cache=dhp.use_cache,
                              temperature=dhp.sampling_temp if random else 0.0,
                              top_k=max(dhp.sampling_keep_top_k, 0), seed=dhp.sampling_seed)
    self._decode_batch = decode_batch

  @classmethod
  def from_checkpoint(cls, problem, model_cls, hparams, data_dir, checkpoint_path, dhp):
    model, encoders = load_model(problem, model_cls, hparams, data_dir, checkpoint_path)
    return cls(problem, model, encoders, dhp, data_dir)

  def encode_line(self, line, where):
    try:
      ids = self.encoders["inputs"].encode(line)
      return ids if self.prompts else ids + [EOS_ID]  # a prompt goes on; a source ends
    except ValueError as e:
      raise UserError(f"{where}: {e} of problem '{self.problem.name}'") from None

  def decode_ids(self, id_lists):
    """Decodes encoded inputs (sources ending with EOS, or prompts); returns output id
    lists in input order."""
    def decode(batch):
      width = max(len(x) for x in batch)
      ids, _ = self._decode_batch(
          tf.constant([x + [0] * (width - len(x)) for x in batch], tf.int32))
      return [strip_ids(row) for row in ids.numpy().tolist()]
    return map_length_sorted(id_lists, self.dhp.batch_size, decode)

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
      write_text_atomically(out_path, text)
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

  def decode_split(self, split="dev", num_samples=None):
    """Decodes the first num_samples examples of a split (file order; the default is
    decode_hparams' num_samples, -1 for all). Returns (inputs, targets, outputs) id lists."""
    num_samples = self.dhp.num_samples if num_samples is None else num_samples
    files = self.problem.data_files(self.data_dir, split)
    ds = tf.data.TFRecordDataset(files).map(self.problem.decode_example)
    if num_samples >= 0:
      ds = ds.take(num_samples)
    examples = [{k: strip_ids(v.numpy()) for k, v in ex.items()} for ex in ds]
    if self.prompts:  # a language model continues the first half of each text
      for ex in examples:
        ex["inputs"] = ex["targets"][:len(ex["targets"]) // 2]
    outputs = self.decode_ids([ex["inputs"] + ([] if self.prompts else [EOS_ID])
                               for ex in examples])
    return [ex["inputs"] for ex in examples], [ex["targets"] for ex in examples], outputs

  def decode_dataset(self, split="dev", log=print):
    """Decodes examples of a split, printing input, target and output; returns the
    fraction of outputs that equal their targets exactly (and logs BLEU for problems that
    report it)."""
    inputs, targets, outputs = self.decode_split(split)
    text = self.encoders["targets"].decode
    for i, t, o in zip(inputs, targets, outputs):
      log(f"INPUT:  {self.encoders['inputs'].decode(i)}")
      log(f"TARGET: {text(t)}")
      log(f"OUTPUT: {text(o)}")
    accuracy = sum(o == t for o, t in zip(outputs, targets)) / max(len(targets), 1)
    line = f"decoded {len(targets)} {split} examples: exact match {accuracy:.4f}"
    if "bleu" in getattr(self.problem, "decode_metrics", ()) and targets:
      result, signature = bleu.corpus_bleu([text(o) for o in outputs],
                                           [text(t) for t in targets])
      line += f"  BLEU {result.score:.2f} ({signature})"
    log(line)
    return accuracy


def find_checkpoint(output_dir, checkpoint_path=None):
  path = checkpoint_path or tf.train.latest_checkpoint(output_dir)
  if not path:
    raise UserError(f"no checkpoint in {output_dir}; train first (t2t-trainer) or pass "
                    "--checkpoint_path")
  if not tf.io.gfile.exists(path + ".index"):
    raise UserError(f"checkpoint {path} does not exist")
  return path

