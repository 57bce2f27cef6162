"""Vocabularies as TensorFlow ops, so an exported model takes and returns strings.

Each text encoder of t2t_lite.data describes its in-graph twin (TextEncoder.graph_vocab:
which tokenizer of TOKENIZERS, with what arguments), with the same ids and the same text:
encode(strings [b]) -> RaggedTensor of ids [b, (n)], decode(ids [b, t]) -> strings [b]
(cut at the first EOS, padding dropped, as text_encoder.strip_ids). Byte, character,
token and word vocabularies (hashed buckets included) use core TF ops only (lookup
tables); sentencepiece uses tensorflow_text's SentencepieceTokenizer, the standard
in-graph sentencepiece (same C++ library, so the same pieces as training), whose ops a
loading process gets with `import tensorflow_text`.
"""
import tensorflow as tf

from t2t_lite.data import text_encoder


def strip(ids):
  """ids [b, t] -> RaggedTensor without padding, cut at each row's first EOS."""
  ids = tf.cast(ids, tf.int32)
  before_eos = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, text_encoder.EOS_ID), tf.int32),
                                  axis=1), 0)
  return tf.ragged.boolean_mask(ids, before_eos & tf.not_equal(ids, text_encoder.PAD_ID))


class TableTokenizer(tf.Module):
  """Pieces looked up in a table: single bytes, characters, or whitespace tokens."""

  def __init__(self, pieces, split, unknown_id, separator="", shown=None):
    super().__init__()
    self.split, self.separator = split, separator
    keys = [p for i, p in enumerate(pieces) if i >= text_encoder.NUM_RESERVED_TOKENS]
    values = list(range(text_encoder.NUM_RESERVED_TOKENS, len(pieces)))
    self.table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.string),
                                            tf.constant(values, tf.int32)),
        default_value=unknown_id)
    # What each id shows as when decoding (reserved ids show as nothing).
    self.pieces = tf.Variable(shown if shown is not None else
                              [""] * text_encoder.NUM_RESERVED_TOKENS + keys,
                              dtype=tf.string, trainable=False)

  def encode(self, strings):
    if self.split == "bytes":
      parts = tf.strings.bytes_split(strings)
    elif self.split == "chars":
      parts = tf.strings.unicode_split(strings, "UTF-8")
    else:
      parts = tf.strings.split(strings)
    ids = tf.ragged.map_flat_values(self.table.lookup, parts)
    # Unknown whitespace tokens have no id (the Python encoder refuses them): drop them.
    return tf.ragged.boolean_mask(ids, ids >= 0)

  def decode(self, ids):
    text = tf.strings.reduce_join(tf.gather(self.pieces, strip(ids)), axis=-1,
                                  separator=self.separator)
    if self.split == "bytes":  # invalid UTF-8 shows as U+FFFD, as bytes.decode(errors=...)
      text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
    return text


class WordTokenizer(tf.Module):
  """Whitespace words in a tf.lookup.StaticVocabularyTable: the vocabulary's words by
  position, every other word in one of num_oov_buckets ids after them by the same
  Fingerprint64 bucketing as text_encoder.WordTextEncoder."""

  def __init__(self, words, num_oov_buckets):
    super().__init__()
    self.table = tf.lookup.StaticVocabularyTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(words, tf.string),
                                            tf.range(len(words), dtype=tf.int64)),
        num_oov_buckets)
    shown = [""] * text_encoder.NUM_RESERVED_TOKENS + list(words[
        text_encoder.NUM_RESERVED_TOKENS:]) + [text_encoder.WordTextEncoder.OOV] * num_oov_buckets
    self.pieces = tf.Variable(shown, dtype=tf.string, trainable=False)

  def encode(self, strings):
    ids = tf.ragged.map_flat_values(self.table.lookup, tf.strings.split(strings))
    return tf.cast(ids, tf.int32)

  def decode(self, ids):
    return tf.strings.reduce_join(tf.gather(self.pieces, strip(ids)), axis=-1, separator=" ")


class SentencePieceTokenizer(tf.Module):

  def __init__(self, model_proto):
    super().__init__()
    import tensorflow_text  # noqa: F401  (heavy; only sentencepiece vocabularies need it)
    self.tokenizer = tensorflow_text.SentencepieceTokenizer(model=model_proto,
                                                            out_type=tf.int32)

  def encode(self, strings):
    return self.tokenizer.tokenize(strings)

  def decode(self, ids):
    return self.tokenizer.detokenize(strip(ids))


class TaskTokenTokenizer(tf.Module):
  """A tokenizer plus a mixture's task tokens (text_encoder.TaskTokenEncoder): a text
  that starts with a task token encodes to its id, then the rest; outputs drop them."""

  def __init__(self, base, tokens, first_id):
    super().__init__()
    self.base, self.first_id = build(base), first_id
    self.table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(tokens), tf.string),
            tf.constant(list(range(first_id, first_id + len(tokens))), tf.int32)),
        default_value=-1)

  def encode(self, strings):
    text = tf.strings.regex_replace(strings, r"^\s+", "")
    head = tf.strings.regex_replace(text, " .*", "")
    token = self.table.lookup(head)
    is_token = token >= 0
    rest = tf.strings.regex_replace(text, "^[^ ]*( |$)", "", replace_global=False)
    ids = self.base.encode(tf.where(is_token, rest, strings))
    prefix = tf.ragged.boolean_mask(token[:, None], is_token[:, None])
    return tf.concat([prefix, tf.cast(ids, tf.int32)], axis=1)

  def decode(self, ids):
    ids = tf.cast(ids, tf.int32)
    return self.base.decode(tf.where(ids >= self.first_id, text_encoder.PAD_ID, ids))


def graph_tokenizer(encoder):
  """The in-graph twin of a t2t_lite text encoder, as the encoder describes it
  (TextEncoder.graph_vocab)."""
  return build(encoder.graph_vocab())


def build(vocab):
  """The tokenizer a GraphVocab describes."""
  return TOKENIZERS[vocab.tokenizer](**vocab.args)


# GraphVocab.tokenizer -> the tokenizer class; its args are the class's arguments.
TOKENIZERS = {"table": TableTokenizer, "words": WordTokenizer,
              "sentencepiece": SentencePieceTokenizer, "task_tokens": TaskTokenTokenizer}
