"""CTC decoding with the blank at id 0 (the padding id, never a label).

greedy: the best class per frame, repeats collapsed, blanks removed.
beam: tf.nn.ctc_beam_search_decoder (prefix beam search without a language model), which
puts the blank last, so the classes are rotated around the call.
Both return dense ids [batch, length] padded with 0.
"""
import tensorflow as tf


def greedy(logits, lengths):
  """logits [b, t, classes], lengths [b] -> ids [b, l]."""
  best = tf.argmax(logits, axis=-1, output_type=tf.int32)
  valid = tf.sequence_mask(lengths, tf.shape(best)[1])
  previous = tf.pad(best, [[0, 0], [1, 0]], constant_values=-1)[:, :-1]
  keep = valid & tf.not_equal(best, 0) & tf.not_equal(best, previous)
  return tf.ragged.boolean_mask(best, keep).to_tensor(default_value=0)


def beam_search(logits, lengths, beam_size):
  """logits [b, t, classes], lengths [b] -> (ids [b, l], log-probability [b]) of the best
  path."""
  log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
  rotated = tf.concat([log_probs[..., 1:], log_probs[..., :1]], axis=-1)  # blank last
  decoded, scores = tf.nn.ctc_beam_search_decoder(
      tf.transpose(rotated, [1, 0, 2]), tf.cast(lengths, tf.int32), beam_width=beam_size,
      top_paths=1)
  ids = tf.sparse.to_dense(decoded[0], default_value=-1)
  ids = tf.cast(tf.where(ids >= 0, ids + 1, 0), tf.int32)
  # An empty best path leaves a [b, 0] result: keep the batch dimension.
  ids = tf.reshape(ids, [tf.shape(logits)[0], -1])
  return ids, scores[:, 0]


def greedy_path_log_prob(logits, lengths):
  """The log-probability [b] of the best frame-by-frame path (what greedy decodes)."""
  best = tf.reduce_max(tf.nn.log_softmax(tf.cast(logits, tf.float32)), axis=-1)
  valid = tf.sequence_mask(lengths, tf.shape(best)[1])
  return tf.reduce_sum(tf.where(valid, best, 0.0), axis=1)


def decode_with_scores(logits, lengths, beam_size=1):
  """Greedy for beam_size 1, beam search otherwise: (ids [b, l], log-probability [b] of
  the best path)."""
  if beam_size <= 1:
    return greedy(logits, lengths), greedy_path_log_prob(logits, lengths)
  return beam_search(logits, lengths, beam_size)


def decode(logits, lengths, beam_size=1):
  """Greedy for beam_size 1, beam search otherwise; ids [b, l]."""
  return decode_with_scores(logits, lengths, beam_size)[0]
