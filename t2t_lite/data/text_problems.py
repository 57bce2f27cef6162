"""Text2Text and Text2Self problems: a subclass yields strings, the base does the rest.

A Text2TextProblem yields {"inputs": str, "targets": str} samples per split; datagen builds
the vocabulary once from the training samples (sentencepiece unigram/BPE, bytes or
characters; shared by inputs and targets or one each), then encodes every split into
sharded TFRecords. A Text2SelfProblem (language modeling) yields {"targets": str}.
A word vocabulary (vocab_type=word) keeps the approx_vocab_size most frequent words and
maps every other word to one of num_oov_buckets hashed rows (text_encoder.WordTextEncoder).
Vocabulary files live in data_dir and are reused; one built with other settings is an
error, never silently rebuilt.
"""
import abc
import json
import os
from typing import ClassVar

import tensorflow as tf

from t2t_lite import options
from t2t_lite.data import sentencepiece_encoder
from t2t_lite.data.problem import Problem, ProblemSettings
from t2t_lite.data.text_encoder import (
  EOS_ID,
  ByteTextEncoder,
  CharacterTextEncoder,
  WordTextEncoder,
)
from t2t_lite.errors import UserError
from t2t_lite.options import setting

VOCAB_TYPES = ("sentencepiece", "byte", "character", "word")
_VOCAB_SUFFIX = {"sentencepiece": "sp.model", "character": "chars.txt", "word": "words.txt"}


@options.group("VocabSettings")
class VocabSettings(ProblemSettings):
  """How a text problem builds its vocabulary."""
  vocab_type: str = setting("sentencepiece", "the vocabulary: a SentencePiece model, bytes, "
                            "characters or words", choices=VOCAB_TYPES)
  approx_vocab_size: int = setting(8192, "about this many symbols (sentencepiece, word)",
                                   minimum=8)
  sentencepiece_model_type: str = setting("unigram", "SentencePiece's model type",
                                          choices=sentencepiece_encoder.MODEL_TYPES)
  shared_vocab: bool = setting(True, "one vocabulary for inputs and targets")
  vocab_samples: int = setting(1000000, "the vocabulary is built from this many training "
                               "samples at most", minimum=1)
  num_oov_buckets: int = setting(1, "word: unknown words hash into this many ids",
                                 minimum=1)


class Text2TextProblem(Problem):

  SETTINGS = (VocabSettings,)
  # Subclasses change the declared defaults here ({name: value}, a preset); users change
  # them with --problem_settings.
  vocab_defaults: ClassVar[dict] = {}
  # Metrics computed on decoded text (beam search) during train_and_evaluate.
  decode_metrics = ("bleu",)

  def settings_preset(self):
    return dict(self.vocab_defaults)

  def check_settings(self, s):
    if s.num_oov_buckets != 1 and s.vocab_type != "word":
      raise UserError(f"problem setting num_oov_buckets={s.num_oov_buckets} applies to "
                      f"vocab_type=word (a {s.vocab_type} vocabulary has no unknown words "
                      "to bucket)")
    return s

  @abc.abstractmethod
  def generate_samples(self, data_dir, tmp_dir, split):
    """Yields {"inputs": str, "targets": str} (only "targets" without inputs)."""
    raise NotImplementedError

  # -- vocabulary -------------------------------------------------------------------------
  def _features(self):
    return ("inputs", "targets") if self.has_inputs else ("targets",)

  def _vocab_of(self, feature):
    """Which vocabulary file a feature uses: 'shared', or the feature's own."""
    if not self.has_inputs or self.settings.shared_vocab:
      return "shared"
    return feature

  def vocab_filename(self, data_dir, which):
    return os.path.join(data_dir,
                        f"{self.name}.{which}.{_VOCAB_SUFFIX[self.settings.vocab_type]}")

  def _vocab_settings(self):
    s = self.settings
    keys = ["vocab_type"] + {"sentencepiece": ["approx_vocab_size", "sentencepiece_model_type"],
                             "word": ["approx_vocab_size", "num_oov_buckets"]
                             }.get(s.vocab_type, [])
    return {k: getattr(s, k) for k in keys}

  def write_vocab(self, data_dir, log=print):
    if self.settings.vocab_type == "byte":
      return
    for which in sorted({self._vocab_of(f) for f in self._features()}):
      path = self.vocab_filename(data_dir, which)
      if tf.io.gfile.exists(path):
        _check_vocab_settings(path, self._vocab_settings())
        log(f"{self.name}: using the existing vocabulary {path}")
        continue
      texts = self._vocab_texts(data_dir, which)
      if self.settings.vocab_type == "sentencepiece":
        sentencepiece_encoder.train(path, texts, self.settings.approx_vocab_size,
                                    self.settings.sentencepiece_model_type, log=log)
      elif self.settings.vocab_type == "word":
        encoder = WordTextEncoder.build(texts, self.settings.approx_vocab_size,
                                        self.settings.num_oov_buckets)
        encoder.store_to_file(path)
        log(f"{self.name}: wrote a vocabulary of {len(encoder.words)} words (+ "
            f"{encoder.num_oov_buckets} hashed buckets for the others) to {path}")
      else:
        CharacterTextEncoder(chars=set("".join(texts))).store_to_file(path)
        log(f"{self.name}: wrote a character vocabulary to {path}")
      _record_vocab_settings(path, self._vocab_settings())

  def _vocab_texts(self, data_dir, which):
    """Up to vocab_samples training texts of the features that use vocabulary `which`."""
    features = [f for f in self._features() if self._vocab_of(f) == which]
    texts = []
    for i, sample in enumerate(self.generate_samples(data_dir, None, "train")):
      if i >= self.settings.vocab_samples:
        break
      texts.extend(sample[f] for f in features)
    return texts

  def feature_encoders(self, data_dir):
    vocab_type = self.settings.vocab_type
    encoders = {}
    for feature in self._features():
      if vocab_type == "byte":
        encoders[feature] = ByteTextEncoder()
        continue
      path = self.vocab_filename(data_dir, self._vocab_of(feature))
      if not tf.io.gfile.exists(path):
        raise UserError(f"vocabulary {path} is missing; run t2t-datagen "
                        f"--problem={self.name} --data_dir={data_dir}")
      if vocab_type == "sentencepiece":
        encoders[feature] = sentencepiece_encoder.SentencePieceEncoder(path)
      elif vocab_type == "word":
        encoders[feature] = WordTextEncoder(path,
                                            num_oov_buckets=self.settings.num_oov_buckets)
      else:
        encoders[feature] = CharacterTextEncoder(path)
    if not self.has_inputs:
      encoders["inputs"] = encoders["targets"]  # prompts of a language model
    return encoders

  # -- generation -------------------------------------------------------------------------
  def generate_encoded_samples(self, data_dir, tmp_dir, split):
    encoders = self.feature_encoders(data_dir)
    for sample in self.generate_samples(data_dir, tmp_dir, split):
      yield {f: encoders[f].encode(sample[f]) + [EOS_ID] for f in self._features()}


class Text2SelfProblem(Text2TextProblem):
  """Language modeling: each sample is one text, {"targets": str}."""
  has_inputs = False
  decode_metrics = ()


def _vocab_settings_path(vocab_path):
  return vocab_path + ".settings.json"


def _check_vocab_settings(vocab_path, settings):
  path = _vocab_settings_path(vocab_path)
  if not tf.io.gfile.exists(path):
    return  # put there by hand: trust it
  with tf.io.gfile.GFile(path) as f:
    saved = json.load(f)
  diff = ", ".join(f"{k}={saved.get(k)} (now {v})" for k, v in settings.items()
                   if saved.get(k) != v)
  if diff:
    raise UserError(f"vocabulary {vocab_path} was built with {diff}; delete it and the data "
                    "files, or use another --data_dir")


def _record_vocab_settings(vocab_path, settings):
  with tf.io.gfile.GFile(_vocab_settings_path(vocab_path), "w") as f:
    json.dump(settings, f, sort_keys=True)
