"""Word times from CTC alignments: the Viterbi alignment of a transcript, words made of
pieces (characters or SentencePiece), and the in-graph greedy version exports use."""
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite.data.speech_encoders import CharacterEncoder
from t2t_lite.decoding import ctc, ctc_lm, ctc_timing

ENCODER = CharacterEncoder()
CHARS = ctc_lm.Words(ENCODER.pieces)
SPACE = ENCODER.pieces.index(" ")


def _peaky(rng, frames, classes=30):
  logits = rng.normal(size=(frames, classes)) * 4
  logits[:, 0] += 3.0
  logits[:, SPACE] += rng.uniform(0, 2)  # spaces often enough to make several words
  return tf.nn.log_softmax(logits).numpy()


def _greedy_runs(log_probs):
  """(label, first frame, last frame) of each run of a label on the greedy path."""
  best = np.argmax(log_probs, axis=-1)
  runs = []
  for t, c in enumerate(best):
    if c and (t == 0 or best[t - 1] != c):
      runs.append([int(c), t, t])
    elif c:
      runs[-1][2] = t
  return runs


@pytest.mark.parametrize("seed", range(5))
def test_the_alignment_of_the_greedy_transcript_is_the_greedy_path(seed):
  log_probs = _peaky(np.random.default_rng(seed), 60)
  runs = _greedy_runs(log_probs)
  ids = ctc.greedy(tf.constant(log_probs[None]), tf.constant([60])).numpy()[0]
  ids = [int(i) for i in ids if i]
  assert ids == [label for label, _, _ in runs]
  assert ctc_timing.forced_alignment(log_probs, ids) == [(a, b) for _, a, b in runs]


def test_alignment_follows_the_transcript_not_the_best_frames():
  # Frames favour "ab", but the transcript "aab" must place a blank between the a's.
  a, b = ENCODER.encode("a")[0], ENCODER.encode("b")[0]
  probs = np.full((6, 30), 1e-4)
  for t, label in enumerate([a, a, 0, a, b, b]):
    probs[t, label] = 1.0
  probs[1, 0] = 0.5  # frame 1 could be a blank too
  probs[2, a] = 1e-3  # for "ab", the a holding through frame 3 beats b starting there
  log_probs = np.log(probs / probs.sum(1, keepdims=True))
  assert ctc_timing.forced_alignment(log_probs, [a, a, b]) == [(0, 1), (3, 3), (4, 5)]
  assert ctc_timing.forced_alignment(log_probs, [a, b]) == [(0, 3), (4, 5)]
  with pytest.raises(ValueError, match="cannot be aligned"):
    ctc_timing.forced_alignment(log_probs[:2], [a, a, b])


def test_words_of_characters_and_of_sentencepiece_pieces():
  ids = ENCODER.encode("ab cd")
  spans = [(2, 3), (5, 5), (9, 9), (12, 12), (14, 16)]
  assert ctc_timing.word_times(ids, spans, CHARS, 0.02) == [("ab", 0.04, 0.12),
                                                            ("cd", 0.24, 0.34)]
  pieces = ["", "", "\u2581a", "\u2581ca", "b", "\u2581", "d"]
  words = ctc_lm.Words(pieces, "\u2581")
  # "▁ca b ▁ d ▁a": words "cab", "d", "a"; the lone marker times nothing.
  times = ctc_timing.word_times([3, 4, 5, 6, 2], [(1, 1), (3, 4), (6, 6), (8, 8), (11, 12)],
                                words, 0.03)
  assert times == [("cab", 0.03, 0.15), ("d", 0.24, 0.27), ("a", 0.33, 0.39)]


@pytest.mark.parametrize("pieces", ["chars", "sentencepiece"])
def test_in_graph_greedy_times_equal_the_alignment_of_the_greedy_transcript(pieces):
  rng = np.random.default_rng(7)
  if pieces == "chars":
    words = CHARS
  else:
    words = ctc_lm.Words(["", ""] + [("\u2581" if i % 3 == 0 else "") + chr(97 + i % 26)
                                     for i in range(28)], "\u2581")
  lengths = [50, 31, 0, 44]
  log_probs = np.stack([_peaky(rng, 50) for _ in lengths])
  log_probs[1, 10:] = np.log(np.eye(30)[0] * (1 - 29e-6) + 1e-6)  # then only blanks
  starts, ends = ctc_timing.greedy_word_times(tf.constant(log_probs, tf.float32),
                                              tf.constant(lengths), words, 0.02)
  for row, length in enumerate(lengths):
    lp = log_probs[row, :length]
    ids = [label for label, _, _ in _greedy_runs(lp)] if length else []
    expected = ctc_timing.word_times(ids, ctc_timing.forced_alignment(lp, ids), words, 0.02)
    got_starts = [s for s in starts.numpy()[row] if s >= 0]
    got_ends = [e for e in ends.numpy()[row] if e >= 0]
    assert np.allclose(got_starts, [s for _, s, _ in expected], atol=1e-5)
    assert np.allclose(got_ends, [e for _, _, e in expected], atol=1e-5)
  assert len([s for s in starts.numpy()[2] if s >= 0]) == 0
