"""CTC decoding with the blank at id 0: greedy collapses repeats and drops blanks; its
score is the best path's log-probability; beam search agrees on a peaked distribution."""
import numpy as np
import tensorflow as tf

from t2t_lite.decoding import ctc


def _peaked(path, classes=5):
  logits = np.full((1, len(path), classes), -10.0, np.float32)
  for t, c in enumerate(path):
    logits[0, t, c] = 10.0
  return tf.constant(logits)


def test_greedy_collapses_repeats_and_blanks():
  logits = _peaked([3, 3, 0, 3, 4, 4, 0])
  assert ctc.greedy(logits, tf.constant([7])).numpy().tolist() == [[3, 3, 4]]
  assert ctc.greedy(logits, tf.constant([2])).numpy().tolist() == [[3]]  # length honoured


def test_scores_and_beam_search():
  logits = _peaked([2, 0, 4])
  ids, score = ctc.decode_with_scores(logits, tf.constant([3]), beam_size=1)
  expected = np.sum(np.max(tf.nn.log_softmax(logits).numpy(), axis=-1))
  np.testing.assert_allclose(score.numpy(), [expected], rtol=1e-5)
  beam_ids, beam_score = ctc.decode_with_scores(logits, tf.constant([3]), beam_size=4)
  assert beam_ids.numpy().tolist() == ids.numpy().tolist() == [[2, 4]]
  assert beam_score.shape == (1,)
