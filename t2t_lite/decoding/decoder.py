"""Decoding a trained model: text lines in, detokenized text out.

Inputs are encoded with the problem's vocabulary, sorted by length into batches (so little
is spent on padding), decoded with greedy or beam search in one traced function, and put
back in their original order.

`Decoder` is the interface of every problem's decoder: made from a trained model, it
decodes a file, stdin or a split and scores decoded outputs for evaluation
(decoded_metrics). Decoders are registered by what the problem emits (Problem.emits):
TextDecoder (here) for "text", AudioDecoder (audio_decoder.py) for "ctc_frames";
Problem.decoder_class looks them up. Exporting is serving's (serving/exporters.py).
"""
import abc
import sys

import tensorflow as tf

from t2t_lite import ema, mixed_precision, options, registry, search
from t2t_lite.data.text_encoder import EOS_ID, strip_ids, write_text_atomically
from t2t_lite.decoding import nbest, scoring
from t2t_lite.decoding.batching import map_length_sorted
from t2t_lite.errors import UserError

# Declared with the eval metrics (metrics.py); the trainer and t2t-decoder name them here.
from t2t_lite.metrics import (  # noqa: F401
  DECODED_METRICS,
  DecodedMetric,
  check_decoded_metric_names,
  register_decoded_metric,
)
from t2t_lite.options import setting
from t2t_lite.search import Search


@options.group("DecodeHParams")
class DecodeHParams(search.SearchSettings):
  """Tensor2Tensor's --decode_hparams: search settings, not model settings."""
  field_flags = False  # named inside --decode_hparams, not as flags
  extra_length: int = setting(Search.extra_length, "outputs may be this much longer than "
                              "their input (or prompt)", minimum=0)
  batch_size: int = setting(32, "sentences per decoding batch", minimum=1)
  num_samples: int = setting(100, "dataset decoding: how many examples (-1: all)",
                             minimum=1, also=(-1,))
  use_cache: bool = setting(True, "cached keys/values (same result, faster)")
  sampling_method: str = setting("argmax", "'random' samples each symbol (needs "
                                 "beam_size=1)", choices=("argmax", "random"))
  sampling_temp: float = setting(1.0, "random sampling from softmax(logits / "
                                 "sampling_temp)", above=0)
  sampling_keep_top_k: int = setting(-1, "random sampling among the k likeliest symbols "
                                     "(-1: all)", minimum=1, also=(-1,))
  # The search stacks it with the step into an int32 stateless seed.
  sampling_seed: int = setting(0, "the same seed gives the same samples", minimum=0,
                               maximum=2 ** 31 - 1)
  length_penalty: str = setting(
      "gnmt", "how beam search normalizes scores by length: gnmt (((5 + length) / 6) ** "
      "alpha, Tensor2Tensor's), length (length ** alpha), none (log-probability alone)",
      choices=tuple(search.LENGTH_PENALTIES))
  return_beams: bool = setting(False, "write the beam_size best hypotheses of each input "
                               "with their scores (n-best lists), best first")
  nbest_format: str = setting("fairseq", "n-best lists as fairseq-generate's S-/H- lines "
                              "or OpenNMT-tf's 'score ||| hypothesis' lines",
                              choices=("fairseq", "opennmt"))

  def __post_init__(self):
    super().__post_init__()
    if self.sampling_method == "random" and self.beam_size != 1:
      raise UserError("sampling_method=random samples one output: set beam_size=1")

  def search(self):
    """The model's Search for these settings."""
    random = self.sampling_method == "random"
    return Search(beam_size=self.beam_size, alpha=self.alpha,
                  extra_length=self.extra_length, use_cache=self.use_cache,
                  temperature=self.sampling_temp if random else 0.0,
                  top_k=max(self.sampling_keep_top_k, 0), seed=self.sampling_seed,
                  length_penalty=self.length_penalty, return_beams=self.return_beams)


def restored_model(model_cls, hparams, checkpoint_path, has_inputs=True, raw_weights=False):
  """A model built from hparams with the weights of checkpoint_path (which must hold
  them all): their exponential moving average when the checkpoint keeps one (ema.py),
  unless raw_weights."""
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
  if not raw_weights:
    ema.load_averages(model, checkpoint_path)
  return model


class Decoder(abc.ABC):
  """What t2t-decoder, t2t-exporter and evaluation need of a problem's decoder."""

  # The settings group its --decode_hparams are parsed into (a subclass may add its own).
  DECODE_HPARAMS: type = DecodeHParams

  def __init__(self, problem, model, hparams, data_dir, dhp):
    self.problem, self.model, self.hparams = problem, model, hparams
    self.data_dir, self.dhp = data_dir, dhp

  @classmethod
  def from_checkpoint(cls, problem, model_cls, hparams, data_dir, checkpoint_path, dhp,
                      raw_weights=False):
    """The decoder of a trained run (hparams validated): its model restored from
    checkpoint_path (the weights' moving average when it has one, unless raw_weights)."""
    cls.check_vocabulary(problem, hparams, data_dir)
    model = restored_model(model_cls, hparams, checkpoint_path, problem.has_inputs,
                           raw_weights)
    return cls(problem, model, hparams, data_dir, dhp)

  @classmethod
  @abc.abstractmethod
  def check_vocabulary(cls, problem, hparams, data_dir):
    """Raises UserError unless the vocabulary in data_dir is the one the model was trained
    with."""

  @abc.abstractmethod
  def decode_from_file(self, path, out_path=None):
    """Decodes each input listed in `path`; writes one output per line (stdout if no
    out_path). Returns the outputs."""

  @abc.abstractmethod
  def interactive(self, stdin=sys.stdin, stdout=sys.stdout):
    """Reads one input per line until EOF and answers each at once."""

  @abc.abstractmethod
  def decode_dataset(self, split="dev", log=print):
    """Decodes examples of a split, logging each and a summary line; returns the
    summary."""

  def decoded_metrics(self, split, num_samples, names):
    """({name: score} of decode metrics over the first num_samples examples of split; a
    line saying how they were computed)."""
    raise UserError(f"problem '{self.problem.name}' has no decode metrics with "
                    f"{type(self).__name__}")

  def score_file(self, path, out_path=None):
    """Writes the model's log-probability of each given output (scoring.py), without
    searching."""
    raise UserError(f"--score_file: problem '{self.problem.name}' decodes with "
                    f"{type(self).__name__}, which does not score given outputs")

  def tune_lm(self, split="dev", log=print):
    """t2t-decoder --tune_lm: tries a grid of language-model weights on a split, logs a
    table and returns the best settings."""
    raise UserError(f"--tune_lm: problem '{self.problem.name}' does not decode with a "
                    "language model")


@registry.register_decoder("text")
class TextDecoder(Decoder):
  """Decodes text with a model: sources of a translation model, or prompts of a language
  model (which its outputs continue; an empty prompt samples from scratch)."""

  def __init__(self, problem, model, hparams, data_dir, dhp):
    super().__init__(problem, model, hparams, data_dir, dhp)
    self.encoders = problem.feature_encoders(data_dir)
    self.prompts = not problem.has_inputs
    search = dhp.search()

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def decode_batch(inputs):
      return self.model.predict({"inputs": inputs}, search)
    self._decode_batch = decode_batch

  @classmethod
  def check_vocabulary(cls, problem, hparams, data_dir):
    encoders = problem.feature_encoders(data_dir)
    for feature, key in (("inputs", "input_vocab_size"), ("targets", "target_vocab_size")):
      size = encoders[feature].vocab_size
      if size != getattr(hparams, key):
        raise UserError(f"the {feature} vocabulary in {data_dir} has {size} tokens but the "
                        f"model was trained with {getattr(hparams, key)}; pass the "
                        "--data_dir the run was trained with")

  def decoded_metrics(self, split, num_samples, names):
    _, targets, outputs = self.decode_split(split, num_samples)
    text = self.encoders["targets"].decode
    hypotheses, references = [text(o) for o in outputs], [text(t) for t in targets]
    scores, notes = {}, []
    for name in names:
      metric = DECODED_METRICS[name]
      scores[name], signature = metric.compute(hypotheses, references)
      notes.append(f"{name}: {metric.implementation} on the first {len(targets)} {split} examples, "
                   f"decoded with {self.dhp.beam_size} beam(s); {signature}")
    return scores, "\n".join(notes)

  def encode_line(self, line, where):
    try:
      ids = self.encoders["inputs"].encode(line)
      return ids if self.prompts else ids + [EOS_ID]  # a prompt goes on; a source ends
    except ValueError as e:
      raise UserError(f"{where}: {e} of problem '{self.problem.name}'") from None

  def decode_ids_nbest(self, id_lists):
    """Decodes encoded inputs (sources ending with EOS, or prompts); returns, in input
    order, each input's hypotheses [(output ids, score)], best first: one, or beam_size
    with return_beams."""
    def decode(batch):
      width = max(len(x) for x in batch)
      ids, scores = self._decode_batch(
          tf.constant([x + [0] * (width - len(x)) for x in batch], tf.int32))
      ids, scores = ids.numpy(), scores.numpy()
      if ids.ndim == 2:  # the best hypothesis only
        ids, scores = ids[:, None], scores[:, None]
      return [[(strip_ids(beam), float(score)) for beam, score in zip(row, row_scores)]
              for row, row_scores in zip(ids.tolist(), scores.tolist())]
    return map_length_sorted(id_lists, self.dhp.batch_size, decode)

  def decode_ids(self, id_lists):
    """Decodes encoded inputs (sources ending with EOS, or prompts); returns the best
    output's id list of each, in input order."""
    return [hypotheses[0][0] for hypotheses in self.decode_ids_nbest(id_lists)]

  def _encode_lines(self, lines, source):
    return [self.encode_line(line.strip(), f"{source} line {n + 1}")
            for n, line in enumerate(lines)]

  def decode_lines(self, lines, source="input"):
    return [self.encoders["targets"].decode(ids)
            for ids in self.decode_ids(self._encode_lines(lines, source))]

  def decode_lines_nbest(self, lines, source="input"):
    """Each line's hypotheses [(text, score)], best first."""
    text = self.encoders["targets"].decode
    return [[(text(ids), score) for ids, score in hypotheses]
            for hypotheses in self.decode_ids_nbest(self._encode_lines(lines, source))]

  def decode_from_file(self, path, out_path=None):
    """One output per input line; with return_beams, an n-best list (nbest.py)."""
    lines = read_lines(path, "--decode_from_file")
    if self.dhp.return_beams:
      outputs = self.decode_lines_nbest(lines, source=path)
      text = nbest.format_nbest(lines, outputs, self.dhp.nbest_format)
    else:
      outputs = self.decode_lines(lines, source=path)
      text = "".join(o + "\n" for o in outputs)
    if out_path:
      write_text_atomically(out_path, text)
    else:
      sys.stdout.write(text)
    return outputs

  def score_file(self, path, out_path=None):
    """Scores `source<TAB>target` lines (a language model: one text per line) with the
    model, teacher-forced: writes `total<TAB>mean<TAB>per-token log-probabilities` per
    line (scoring.py). Returns [(total, per-token list)]."""
    lines = read_lines(path, "--score_file")
    pairs = []
    for n, line in enumerate(lines):
      where = f"{path} line {n + 1}"
      if self.prompts:
        source, target = "", line
      elif "\t" not in line:
        raise UserError(f"{where} has no TAB between source and target")
      else:
        source, target = line.split("\t", 1)
      pairs.append(([] if self.prompts else self.encode_line(source.strip(), where),
                    self._encode_target(target.strip(), where)))
    scores = scoring.score_pairs(self.model, pairs, self.dhp.batch_size,
                                 has_inputs=not self.prompts)
    text = "".join(scoring.format_line(total, per_token) for total, per_token in scores)
    if out_path:
      write_text_atomically(out_path, text)
    else:
      sys.stdout.write(text)
    return scores

  def _encode_target(self, text, where):
    try:
      return self.encoders["targets"].encode(text) + [EOS_ID]
    except ValueError as e:
      raise UserError(f"{where}: {e} of problem '{self.problem.name}'") from None

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
        if self.dhp.return_beams:
          stdout.write(nbest.format_nbest([line.rstrip("\n")],
                                          self.decode_lines_nbest([line], source="stdin"),
                                          self.dhp.nbest_format))
        else:
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
    fraction of outputs that equal their targets exactly (and logs the problem's decode
    metrics, e.g. BLEU)."""
    inputs, targets, outputs = self.decode_split(split)
    text = self.encoders["targets"].decode
    for i, t, o in zip(inputs, targets, outputs):
      log(f"INPUT:  {self.encoders['inputs'].decode(i)}")
      log(f"TARGET: {text(t)}")
      log(f"OUTPUT: {text(o)}")
    accuracy = sum(o == t for o, t in zip(outputs, targets)) / max(len(targets), 1)
    line = f"decoded {len(targets)} {split} examples: exact match {accuracy:.4f}"
    for name in self.problem.decode_metrics if targets else ():
      score, signature = DECODED_METRICS[name].compute([text(o) for o in outputs],
                                                       [text(t) for t in targets])
      line += f"  {name.upper()} {score:.2f} ({signature})"
    log(line)
    return accuracy


def read_lines(path, flag):
  """The UTF-8 lines of a file a user names with `flag`."""
  if not tf.io.gfile.exists(path):
    raise UserError(f"{flag}={path} does not exist")
  with tf.io.gfile.GFile(path, "rb") as f:
    raw = f.read()
  try:
    return raw.decode("utf-8").splitlines()
  except UnicodeDecodeError as e:
    line = raw[:e.start].count(b"\n") + 1
    raise UserError(f"{path} line {line} is not UTF-8 text") from None


def find_checkpoint(output_dir, checkpoint_path=None):
  path = checkpoint_path or tf.train.latest_checkpoint(output_dir)
  if not path:
    raise UserError(f"no checkpoint in {output_dir}; train first (t2t-trainer) or pass "
                    "--checkpoint_path")
  if not tf.io.gfile.exists(path + ".index"):
    raise UserError(f"checkpoint {path} does not exist")
  return path

