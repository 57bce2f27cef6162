"""Transcript vocabularies for speech: characters (letters, space, apostrophe) or
SentencePiece pieces. Ids 0 (padding, which CTC models use as their blank) and 1 (EOS) are
reserved as everywhere in t2t_lite; transcripts are normalized to lower case letters,
apostrophes and single spaces first.

Each encoder also exposes `pieces` (the text of every id) and `word_boundary`, from which
an in-graph detokenizer is built for WER/CER during evaluation.
"""
import re
import string

import sentencepiece as spm
import tensorflow as tf

from t2t_lite.data.text_encoder import NUM_RESERVED_TOKENS, RESERVED_TOKENS, TextEncoder, strip_ids
from t2t_lite.errors import UserError

CHARACTERS = [" ", "'"] + list(string.ascii_lowercase)
SP_WORD_BOUNDARY = "\u2581"


def normalize_transcript(text):
  """Lower case; characters outside letters and apostrophes become spaces; one space
  between words. (LibriSpeech is upper case; other corpora have punctuation.)"""
  text = re.sub(r"[^a-z']+", " ", text.lower())
  return " ".join(text.split())


class CharacterEncoder(TextEncoder):
  word_boundary = None

  def __init__(self):
    self.pieces = RESERVED_TOKENS + CHARACTERS
    self._ids = {c: i for i, c in enumerate(self.pieces) if i >= NUM_RESERVED_TOKENS}

  @property
  def vocab_size(self):
    return len(self.pieces)

  def encode(self, text):
    return [self._ids[c] for c in normalize_transcript(text)]

  def decode(self, ids):
    return "".join(self.pieces[i] for i in strip_ids(ids)).strip()


class SentencePieceEncoder(TextEncoder):
  """A SentencePiece model trained on the training transcripts (pad 0, EOS 1, unk 2)."""
  word_boundary = SP_WORD_BOUNDARY

  def __init__(self, model_path):
    if not tf.io.gfile.exists(model_path):
      raise UserError(f"SentencePiece model {model_path} is missing; run t2t-datagen again")
    self._sp = spm.SentencePieceProcessor(model_file=model_path)
    if self._sp.pad_id() != 0 or self._sp.eos_id() != 1:
      raise UserError(f"SentencePiece model {model_path} must have pad id 0 and EOS id 1; "
                      "regenerate it with t2t-datagen")
    self.pieces = [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]
    self.pieces[0], self.pieces[1] = "", ""  # never text

  @staticmethod
  def train(transcripts, model_prefix, vocab_size):
    """Trains a SentencePiece model on an iterable of transcripts -> model_prefix.model.
    Written under a temporary prefix and renamed, the .model last: datagen keeps a
    vocabulary that exists, so an interrupted training must not leave one."""
    tmp_prefix = model_prefix + ".incomplete"
    try:
      spm.SentencePieceTrainer.train(
          sentence_iterator=(normalize_transcript(t) for t in transcripts),
          model_prefix=tmp_prefix, vocab_size=vocab_size, model_type="unigram",
          character_coverage=1.0, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
          hard_vocab_limit=False, minloglevel=2)
    except RuntimeError as e:
      raise UserError(f"could not train the SentencePiece vocabulary ({e}); lower "
                      "sentencepiece_vocab_size or use vocab=char") from None
    for suffix in (".vocab", ".model"):
      tf.io.gfile.rename(tmp_prefix + suffix, model_prefix + suffix, overwrite=True)

  @property
  def vocab_size(self):
    return len(self.pieces)

  def encode(self, text):
    return self._sp.encode(normalize_transcript(text))

  def decode(self, ids):
    return self._sp.decode(strip_ids(ids)).strip()
