"""Encoders between text and ids. Ids 0 and 1 are reserved for padding and end-of-sequence,
as in Tensor2Tensor, so every problem and model agree on them."""
import collections
import dataclasses
import json
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


@dataclasses.dataclass(frozen=True)
class GraphVocab:
  """An encoder's in-graph twin, described: serving/graph_text.py builds the tokenizer
  `tokenizer` names ("table", "words", "sentencepiece", "task_tokens") from `args`."""
  tokenizer: str
  args: dict


class TextEncoder:
  """Base class: encode(str) -> list of ids (no EOS), decode(ids) -> str.

  An encoder an export can carry also describes itself: graph_vocab (the in-graph
  tokenizer of a SavedModel) and ctranslate2_vocab (CTranslate2's token strings)."""

  @property
  def vocab_size(self):
    raise NotImplementedError

  def encode(self, text):
    raise NotImplementedError

  def decode(self, ids):
    raise NotImplementedError

  def graph_vocab(self) -> GraphVocab:
    raise UserError(f"cannot export a vocabulary of type {type(self).__name__}: it has no "
                    "in-graph tokenizer (t2t_lite/serving/graph_text.py)")

  def ctranslate2_vocab(self) -> tuple[list[str], str, str]:
    """(token strings by id, unknown token, tokenization). CTranslate2 maps tokens to ids
    through these strings; a vocabulary without an unknown token maps unknown input to
    padding (CTranslate2 would otherwise append one more token than the model has)."""
    raise UserError(f"cannot export a vocabulary of type {type(self).__name__} to "
                    "CTranslate2 (t2t_lite/serving/ctranslate2_export.py)")


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

  def graph_vocab(self):
    return GraphVocab("table", {"pieces": self._tokens, "split": "whitespace",
                                "unknown_id": -1, "separator": " "})

  def ctranslate2_vocab(self):
    return list(self._tokens), PAD, "whitespace"

  def store_to_file(self, path):
    """Writes the vocabulary atomically (a temp file, then a rename)."""
    write_text_atomically(path, "\n".join(self._tokens) + "\n")


class WordTextEncoder(TextEncoder):
  """Whitespace-separated words: the words of a vocabulary file (the training text's K most
  frequent) get one id each; every other word gets one of `num_oov_buckets` ids after
  them, chosen by a hash of the word. One bucket is the classic single unknown word; more
  keep rare words apart (two share a row only when they hash alike), so a model can still
  learn something of each. The hash is TensorFlow's Fingerprint64 bucketing (what
  tf.lookup.StaticVocabularyTable uses), so an exported model's in-graph vocabulary maps
  every word to the same id. Bucket ids decode as <UNK>: a hash cannot be inverted."""

  OOV = "<UNK>"

  def __init__(self, vocab_filename=None, words=None, num_oov_buckets=1):
    if num_oov_buckets < 1:
      raise UserError(f"num_oov_buckets={num_oov_buckets} must be >= 1")
    self._words = list(words) if words is not None else TokenTextEncoder._load(vocab_filename)
    if self._words[:NUM_RESERVED_TOKENS] != RESERVED_TOKENS:
      raise UserError(f"word vocabulary {vocab_filename or '(in memory)'} must start with "
                      f"{RESERVED_TOKENS}; delete it and rerun t2t-datagen")
    self._ids = {w: i for i, w in enumerate(self._words)}
    self.num_oov_buckets = num_oov_buckets
    self._bucket_of = {}  # rare words recur: hash each once

  @classmethod
  def build(cls, texts, max_words, num_oov_buckets=1):
    """The `max_words` most frequent words of `texts` (ties in alphabetical order)."""
    counts = collections.Counter(w for text in texts for w in text.split())
    for reserved in RESERVED_TOKENS:
      counts.pop(reserved, None)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:max_words]
    return cls(words=RESERVED_TOKENS + [w for w, _ in ranked],
               num_oov_buckets=num_oov_buckets)

  @property
  def vocab_size(self):
    return len(self._words) + self.num_oov_buckets

  @property
  def words(self):
    """The vocabulary's words, the reserved tokens first (id = position)."""
    return list(self._words)

  def encode(self, text):
    tokens = text.split()
    unseen = sorted({t for t in tokens if t not in self._ids and t not in self._bucket_of})
    if unseen:
      buckets = tf.strings.to_hash_bucket_fast(unseen, self.num_oov_buckets).numpy()
      self._bucket_of.update(zip(unseen, (int(b) for b in buckets)))
    return [self._ids[t] if t in self._ids else len(self._words) + self._bucket_of[t]
            for t in tokens]

  def decode(self, ids):
    return " ".join(self._words[i] if i < len(self._words) else self.OOV
                    for i in strip_ids(ids))

  def graph_vocab(self):
    return GraphVocab("words", {"words": self.words, "num_oov_buckets": self.num_oov_buckets})

  def store_to_file(self, path):
    write_text_atomically(path, "\n".join(self._words) + "\n")


def ensure_dir(path):
  if path and not tf.io.gfile.exists(path):
    tf.io.gfile.makedirs(path)
  return path


def vocab_path(data_dir, name):
  return os.path.join(data_dir, name)


class ByteTextEncoder(TextEncoder):
  """UTF-8 bytes shifted past the reserved ids: any text, no vocabulary file."""

  @property
  def vocab_size(self):
    return 256 + NUM_RESERVED_TOKENS

  def encode(self, text):
    return [b + NUM_RESERVED_TOKENS for b in text.encode("utf-8")]

  def decode(self, ids):
    data = bytes(i - NUM_RESERVED_TOKENS for i in strip_ids(ids) if i >= NUM_RESERVED_TOKENS)
    return data.decode("utf-8", errors="replace")

  def graph_vocab(self):
    return GraphVocab("table", {"pieces": [*RESERVED_TOKENS, *(bytes([b]) for b in range(256))],
                                "split": "bytes", "unknown_id": -1})

  def ctranslate2_vocab(self):
    # Bytes as "<0xNN>": sentencepiece's byte-fallback spelling.
    return RESERVED_TOKENS + [f"<0x{b:02X}>" for b in range(256)], PAD, "bytes"


class CharacterTextEncoder(TextEncoder):
  """The characters of the training text, one id each; unseen characters map to <UNK>.

  The vocabulary file holds one JSON string per line, so spaces and tabs survive."""

  UNK = "<UNK>"

  def __init__(self, vocab_filename=None, chars=None):
    if chars is None:
      chars = [json.loads(line) for line in TokenTextEncoder._load(vocab_filename)]
      if chars[:NUM_RESERVED_TOKENS + 1] != RESERVED_TOKENS + [self.UNK]:
        raise UserError(f"character vocabulary {vocab_filename} is damaged (it must start "
                        f"with {RESERVED_TOKENS + [self.UNK]}); delete it and rerun "
                        "t2t-datagen")
      self._chars = chars
    else:
      self._chars = RESERVED_TOKENS + [self.UNK] + sorted(set(chars))
    self._ids = {c: i for i, c in enumerate(self._chars)}
    self._unk_id = NUM_RESERVED_TOKENS

  @property
  def vocab_size(self):
    return len(self._chars)

  def encode(self, text):
    return [self._ids.get(c, self._unk_id) for c in text]

  def decode(self, ids):
    return "".join(self._chars[i] if i != self._unk_id else "?" for i in strip_ids(ids))

  def graph_vocab(self):
    shown = ["", "", "?"] + self._chars[self._unk_id + 1:]
    return GraphVocab("table", {"pieces": self._chars, "split": "chars",
                                "unknown_id": self._unk_id, "shown": shown})

  def ctranslate2_vocab(self):
    return list(self._chars), self.UNK, "characters"

  def store_to_file(self, path):
    write_text_atomically(path, "".join(json.dumps(c) + "\n" for c in self._chars))


class TaskTokenEncoder(TextEncoder):
  """A vocabulary plus one token per task (a mixture's members), with ids after the
  vocabulary's. A text that starts with a task token ("<2de> a green garden") encodes to
  the token's id, then the rest; decoding shows task tokens as themselves."""

  def __init__(self, base: TextEncoder, tokens: tuple[str, ...]):
    self.base, self.tokens = base, tuple(tokens)
    self.first_id = base.vocab_size
    self._ids = {t: self.first_id + i for i, t in enumerate(self.tokens)}
    self._tokens_by_id = {i: t for t, i in self._ids.items()}

  @property
  def vocab_size(self):
    return self.base.vocab_size + len(self.tokens)

  def encode(self, text):
    head, _, rest = text.lstrip().partition(" ")
    if head in self._ids:
      return [self._ids[head]] + self.base.encode(rest)
    return self.base.encode(text)

  def decode(self, ids):
    words, run = [], []
    for i in strip_ids(ids):
      if i in self._tokens_by_id:
        words += [self.base.decode(run), self._tokens_by_id[i]]
        run = []
      else:
        run.append(i)
    words.append(self.base.decode(run))
    return " ".join(w for w in words if w)

  def graph_vocab(self):
    return GraphVocab("task_tokens", {"base": self.base.graph_vocab(), "tokens": self.tokens,
                                      "first_id": self.first_id})


def write_text_atomically(path, text):
  """Writes `text` to a temp file, then renames it over `path`."""
  tmp = path + ".tmp"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write(text)
  tf.io.gfile.rename(tmp, path, overwrite=True)
