"""Encoders between text and ids. Ids 0 and 1 are reserved for padding and end-of-sequence,
as in Tensor2Tensor, so every problem and model agree on them."""
import os

import tensorflow as tf

from t2t_lite.errors import UserError

PAD = "<pad>"
EOS = "<EOS>"
RESERVED_TOKENS = [PAD, EOS]
PAD_ID = 0
EOS_ID = 1
NUM_RESERVED_TOKENS = len(RESERVED_TOKENS)


def strip_ids(ids):
  """Cuts a decoded id sequence at its first EOS and drops padding."""
  out = []
  for i in ids:
    i = int(i)
    if i == EOS_ID:
      break
    if i != PAD_ID:
      out.append(i)
  return out


class TextEncoder:
  """Base class: encode(str) -> list of ids (no EOS), decode(ids) -> str."""

  @property
  def vocab_size(self):
    raise NotImplementedError

  def encode(self, text):
    raise NotImplementedError

  def decode(self, ids):
    raise NotImplementedError


class TokenTextEncoder(TextEncoder):
  """Whitespace-separated tokens from a fixed vocabulary file, one token per line."""

  def __init__(self, vocab_filename=None, tokens=None):
    if tokens is None:
      tokens = self._load(vocab_filename)
    self._tokens = list(tokens)
    if self._tokens[:NUM_RESERVED_TOKENS] != RESERVED_TOKENS:
      raise UserError(f"vocabulary {vocab_filename or '(in memory)'} must start with "
                      f"{RESERVED_TOKENS}; regenerate it with t2t-datagen")
    self._ids = {t: i for i, t in enumerate(self._tokens)}
    if len(self._ids) != len(self._tokens):
      raise UserError(f"vocabulary {vocab_filename} lists a token twice; regenerate it")

  @staticmethod
  def _load(path):
    if not tf.io.gfile.exists(path):
      raise UserError(f"vocabulary file {path} is missing; run t2t-datagen for this problem "
                      "with the same --data_dir")
    with tf.io.gfile.GFile(path, "rb") as f:
      raw = f.read()
    try:
      text = raw.decode("utf-8")
    except UnicodeDecodeError:
      raise UserError(f"vocabulary file {path} is not UTF-8 text; regenerate it") from None
    return [line for line in text.split("\n") if line]

  @property
  def vocab_size(self):
    return len(self._tokens)

  def encode(self, text):
    ids = []
    for tok in text.split():
      if tok not in self._ids:
        raise ValueError(f"token '{tok}' is not in the vocabulary")
      ids.append(self._ids[tok])
    return ids

  def decode(self, ids):
    return " ".join(self._tokens[i] for i in strip_ids(ids))

  def store_to_file(self, path):
    """Writes the vocabulary atomically (a temp file, then a rename)."""
    tmp = path + ".tmp"
    with tf.io.gfile.GFile(tmp, "w") as f:
      f.write("\n".join(self._tokens) + "\n")
    tf.io.gfile.rename(tmp, path, overwrite=True)


def ensure_dir(path):
  if path and not tf.io.gfile.exists(path):
    tf.io.gfile.makedirs(path)
  return path


def vocab_path(data_dir, name):
  return os.path.join(data_dir, name)
