"""Word and character error rates (WER, CER) with the standard definitions.

WER = (substitutions + deletions + insertions) / reference words, the minimum edit
(Levenshtein) distance between the word sequences summed over a corpus and divided by the
total number of reference words; CER the same over characters (spaces included).
`edit_distance`/`error_rates` compute them in Python; `text_error_sums` computes the sums
in TensorFlow (tf.edit_distance) so the trainer's evaluation adds them across replicas.
"""
import tensorflow as tf


def edit_distance(hypothesis, reference):
  """Levenshtein distance between two sequences (unit costs)."""
  previous = list(range(len(reference) + 1))
  for i, h in enumerate(hypothesis, 1):
    current = [i]
    for j, r in enumerate(reference, 1):
      current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (h != r)))
    previous = current
  return previous[-1]


def error_rates(hypotheses, references):
  """Corpus {"wer", "cer"} of hypothesis strings against reference strings."""
  word_errors = words = char_errors = chars = 0
  for hyp, ref in zip(hypotheses, references, strict=True):
    word_errors += edit_distance(hyp.split(), ref.split())
    words += len(ref.split())
    char_errors += edit_distance(" ".join(hyp.split()), " ".join(ref.split()))
    chars += len(" ".join(ref.split()))
  return {"wer": word_errors / max(words, 1), "cer": char_errors / max(chars, 1)}


def _normalize_spaces(text):
  """Single spaces between words, none at the ends (as error_rates compares)."""
  return tf.strings.reduce_join(tf.strings.split(text), axis=-1, separator=" ")


def text_error_sums(hypotheses, references):
  """In-graph sums over a batch of strings [b]: word/char errors and reference counts."""
  hypotheses, references = _normalize_spaces(hypotheses), _normalize_spaces(references)

  def distance_and_length(split):
    hyp, ref = split(hypotheses), split(references)
    errors = tf.edit_distance(hyp.to_sparse(), ref.to_sparse(), normalize=False)
    return tf.reduce_sum(errors), tf.cast(tf.reduce_sum(ref.row_lengths()), tf.float32)

  word_errors, words = distance_and_length(tf.strings.split)
  char_errors, chars = distance_and_length(lambda t: tf.strings.unicode_split(t, "UTF-8"))
  return {"word_errors": word_errors, "words": words, "char_errors": char_errors,
          "chars": chars}


def table_detokenizer(pieces, word_boundary=None):
  """An in-graph id -> text function for a vocabulary given as its list of pieces.

  ids [b, t] -> strings [b], cut at the first EOS (1), padding (0) dropped, as
  text_encoder.strip_ids does. Pieces are concatenated; with `word_boundary`
  (SentencePiece's U+2581), that marker becomes a space."""
  table = tf.constant(pieces)

  def detokenize(ids):
    ids = tf.cast(ids, tf.int32)
    before_eos = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, 1), tf.int32), axis=1), 0)
    kept = tf.ragged.boolean_mask(ids, (ids > 1) & before_eos)
    text = tf.strings.reduce_join(tf.gather(table, kept), axis=-1)
    if word_boundary:
      text = tf.strings.regex_replace(text, word_boundary, " ")
    return tf.strings.strip(text)
  return detokenize
