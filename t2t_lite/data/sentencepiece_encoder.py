"""Subword vocabularies with sentencepiece, trained during datagen from the training text.

Pieces are numbered so that pad = 0, EOS = 1 (the framework's reserved ids) and unk = 2;
sentencepiece itself never adds BOS/EOS, the problem appends EOS.
"""
import io

import sentencepiece as spm
import tensorflow as tf

from t2t_lite.data.text_encoder import GraphVocab, TextEncoder, strip_ids
from t2t_lite.errors import UserError

MODEL_TYPES = ("unigram", "bpe")


class SentencePieceEncoder(TextEncoder):

  def __init__(self, model_path):
    if not tf.io.gfile.exists(model_path):
      raise UserError(f"sentencepiece model {model_path} is missing; run t2t-datagen for "
                      "this problem with the same --data_dir")
    with tf.io.gfile.GFile(model_path, "rb") as f:
      self.model_proto = f.read()
    self._sp = spm.SentencePieceProcessor()
    try:
      self._sp.LoadFromSerializedProto(self.model_proto)
    except (RuntimeError, OSError):
      raise UserError(f"sentencepiece model {model_path} is damaged; delete it and rerun "
                      "t2t-datagen") from None
    self.model_path = model_path

  @property
  def vocab_size(self):
    return self._sp.get_piece_size()

  def encode(self, text):
    return self._sp.encode(text)

  def decode(self, ids):
    return self._sp.decode(strip_ids(ids))

  def graph_vocab(self):
    return GraphVocab("sentencepiece", {"model_proto": self.model_proto})

  def ctranslate2_vocab(self):
    tokens = [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]
    return tokens, tokens[self._sp.unk_id()], "sentencepiece"


def train(model_path, texts, vocab_size, model_type="unigram", log=print):
  """Trains a model on `texts` (an iterable of str) and writes it atomically.

  The vocabulary size is approximate: a corpus with fewer distinct pieces gets fewer
  (hard_vocab_limit=False), so small data never fails on a large size."""
  if model_type not in MODEL_TYPES:
    raise UserError(f"sentencepiece model type '{model_type}' must be one of "
                    f"{', '.join(MODEL_TYPES)}")
  texts = [t for t in texts if t]
  if not texts:
    raise UserError(f"no text to train the vocabulary {model_path} on; check the training data")
  proto = _train_proto(texts, vocab_size, model_type)
  tmp = model_path + ".tmp"
  with tf.io.gfile.GFile(tmp, "wb") as f:
    f.write(proto)
  tf.io.gfile.rename(tmp, model_path, overwrite=True)
  log(f"trained a {model_type} sentencepiece vocabulary of "
      f"{SentencePieceEncoder(model_path).vocab_size} pieces on {len(texts)} texts: "
      f"{model_path}")


def _train_proto(texts, vocab_size, model_type):
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size,
      model_type=model_type, hard_vocab_limit=False, character_coverage=1.0,
      pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=2,
      # Lines are examples, not sentences: keep long ones whole.
      max_sentence_length=1 << 16, minloglevel=2)
  return model.getvalue()
