"""Word start and end times from a CTC alignment.

A CTC model emits one distribution per output frame; output frame j covers the audio from
j * frame_seconds to (j + 1) * frame_seconds, where frame_seconds is the front end's frame
step times the model's total time stride (DeepSpeech2: 10 ms x 2 = 20 ms).

A transcript's labels are aligned to the frames by the best CTC path that spells it
(`forced_alignment`, a Viterbi search; for a greedy transcript that path is the greedy
frame-by-frame path itself). Each label occupies a run of consecutive frames. A word
starts at the first frame of its first label and ends at the end of the last frame of its
last label. Words come from the vocabulary's pieces as the LM decoder makes them
(ctc_lm.Words): a character vocabulary separates them with its space piece, a
SentencePiece vocabulary starts each with a piece carrying U+2581.

`greedy_word_times` computes the same for the greedy path in TensorFlow ops, for exported
models (serving signatures with word timing outputs).
"""
import numpy as np
import tensorflow as tf

BLANK = 0


def forced_alignment(log_probs, ids):
  """log_probs [frames, classes] (blank 0), label ids [n] -> [(first frame, last frame)]
  of each label on the best path that spells `ids`. Raises ValueError when no path does
  (fewer frames than labels plus repeats)."""
  log_probs = np.asarray(log_probs, np.float64)
  ids = [int(i) for i in ids]
  if not ids:
    return []
  frames = len(log_probs)
  states = [BLANK]
  for i in ids:
    states += [i, BLANK]
  states = np.array(states)
  n = len(states)
  # A path may skip a blank between two different labels, never between equal ones.
  skip = np.zeros(n, bool)
  skip[3::2] = states[3::2] != states[1:-2:2]
  score = np.full(n, -np.inf)
  score[:2] = log_probs[0, states[:2]]
  back = np.zeros((frames, n), np.int8)  # how far back the best predecessor state is
  for t in range(1, frames):
    stay, step = score, np.concatenate([[-np.inf], score[:-1]])
    jump = np.where(skip, np.concatenate([[-np.inf, -np.inf], score[:-2]]), -np.inf)
    options = np.stack([stay, step, jump])
    back[t] = np.argmax(options, axis=0)
    score = options[back[t], np.arange(n)] + log_probs[t, states]
  end = n - 1 if score[n - 1] >= score[n - 2] else n - 2
  if not np.isfinite(score[end]):
    raise ValueError(f"{len(ids)} labels cannot be aligned to {frames} frames")
  path = np.empty(frames, int)
  path[-1] = end
  for t in range(frames - 1, 0, -1):
    path[t - 1] = path[t] - back[t, path[t]]
  spans = [[frames, -1] for _ in ids]
  for t, s in enumerate(path):
    if s % 2:
      span = spans[s // 2]
      span[0], span[1] = min(span[0], t), max(span[1], t)
  return [tuple(s) for s in spans]


def word_times(ids, spans, words, frame_seconds):
  """Labels `ids` with their frame `spans` -> [(word, start seconds, end seconds)], the
  words made as `words` (a ctc_lm.Words) makes them."""
  out, text, first, last = [], "", None, None
  for label, (start, end) in zip(ids, spans):
    if words.starts[label] and text:
      out.append((text, first, last))
      text = ""
    piece = words.text[label]
    if piece:
      if not text:
        first = start
      text, last = text + piece, end
  if text:
    out.append((text, first, last))
  return [(w, round(a * frame_seconds, 4), round((b + 1) * frame_seconds, 4))
          for w, a, b in out]


def greedy_word_times(log_probs, lengths, words, frame_seconds):
  """In TensorFlow, for exported models: the words of the greedy path of log_probs [b, t,
  classes] (lengths [b]) -> (start seconds [b, w], end seconds [b, w]), -1 past each
  utterance's last word; the same times as word_times on that path."""
  best = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
  frames = tf.shape(best)[1]
  valid = tf.sequence_mask(lengths, frames)
  best = tf.where(valid, best, BLANK)
  starts = tf.constant(words.starts, tf.bool)
  has_text = tf.constant([bool(t) for t in words.text], tf.bool)
  previous = tf.pad(best, [[0, 0], [1, 0]], constant_values=BLANK)[:, :-1]
  following = tf.pad(best, [[0, 0], [0, 1]], constant_values=BLANK)[:, 1:]
  labelled = tf.not_equal(best, BLANK)
  emitted = labelled & tf.not_equal(best, previous)  # a run of one label begins
  run_ends = labelled & tf.not_equal(best, following)
  position = tf.broadcast_to(tf.range(frames)[None], tf.shape(best))
  # Runs in order, one per emitted label: its label, first frame and last frame.
  labels = tf.ragged.boolean_mask(best, emitted)
  firsts = tf.ragged.boolean_mask(position, emitted)
  lasts = tf.ragged.boolean_mask(position, run_ends)
  # Word-start markers seen up to each label; a text label begins a word when a marker
  # came since the previous text label (or it is the first).
  markers = tf.cumsum(tf.cast(tf.gather(starts, labels), tf.int32), axis=1)
  text = tf.gather(has_text, labels)
  markers, firsts, lasts = (tf.ragged.boolean_mask(x, text) for x in (markers, firsts, lasts))
  before = tf.concat([-tf.ones_like(markers[:, :1]), markers[:, :-1]], axis=1)
  begins = tf.cast(markers > before, tf.int32)
  word = tf.cumsum(begins, axis=1) - 1
  rows = tf.cast(word.value_rowids(), tf.int32)
  counts = tf.reduce_sum(begins, axis=1)
  offsets = tf.cumsum(counts, exclusive=True)
  segment = tf.gather(offsets, rows) + word.flat_values
  total = tf.reduce_sum(counts)
  start = tf.math.unsorted_segment_min(firsts.flat_values, segment, total)
  end = tf.math.unsorted_segment_max(lasts.flat_values, segment, total)

  def seconds(frame_ids, shift):
    values = tf.cast(frame_ids + shift, tf.float32) * frame_seconds
    return tf.RaggedTensor.from_row_lengths(values, counts).to_tensor(default_value=-1.0)
  return seconds(start, 0), seconds(end, 1)
