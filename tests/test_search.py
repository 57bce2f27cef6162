"""Search on hand-made distributions whose best sequences are known."""
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import search

V = 5  # ids: 0 pad, 1 EOS, 2..4 symbols


def _table_fn(table):
  """symbols_to_logits_fn whose log-probs depend only on the previous symbol."""
  logp = tf.math.log(tf.constant(table, tf.float32))

  def fn(seq, step, state):
    prev = seq[:, step]
    return tf.gather(logp, prev), state
  return fn


def test_beam_search_finds_a_better_sequence_than_greedy():
  # From start (0): symbol 2 (p=.5) or 3 (p=.4). After 2 every continuation is poor;
  # after 3, EOS is almost certain. Greedy takes 2; a beam of 2 finds 3 EOS.
  table = np.full((V, V), 1e-6)
  table[0] = [1e-6, 1e-6, 0.5, 0.4, 0.1]
  table[2] = [1e-6, 0.3, 0.35, 0.35, 1e-6]
  table[3] = [1e-6, 0.99, 0.005, 0.005, 1e-6]
  table[4] = [1e-6, 0.5, 0.25, 0.25, 1e-6]
  table /= table.sum(1, keepdims=True)
  fn = _table_fn(table)
  greedy, _ = search.greedy_search(fn, 1, 6, {})
  assert greedy.numpy()[0, 0] == 2
  ids, scores = search.beam_search(fn, 1, 2, 6, V, 0.0, {})
  assert ids.numpy()[0, 0, :2].tolist() == [3, 1]
  assert scores.numpy()[0, 0] == pytest.approx(np.log(table[0, 3] * table[3, 1]), rel=1e-5)
  assert scores.numpy()[0, 0] >= scores.numpy()[0, 1]


def test_length_penalty_prefers_longer_outputs_with_larger_alpha():
  # Ending now costs little; continuing costs a bit per step but alpha rewards length.
  table = np.full((V, V), 1e-6)
  table[0] = [1e-6, 0.05, 0.95, 1e-6, 1e-6]
  table[2] = [1e-6, 0.2, 0.8, 1e-6, 1e-6]
  table /= table.sum(1, keepdims=True)
  fn = _table_fn(table)
  short, _ = search.beam_search(fn, 1, 4, 10, V, 0.0, {})
  long, _ = search.beam_search(fn, 1, 4, 10, V, 2.0, {})
  length = lambda ids: list(ids).index(1) if 1 in list(ids) else len(ids)
  assert length(long.numpy()[0, 0]) > length(short.numpy()[0, 0])


def test_greedy_stops_each_row_at_eos_and_pads_after():
  table = np.full((V, V), 0.01)
  table[0, 2] = table[2, 3] = table[3, 1] = 0.9
  table /= table.sum(1, keepdims=True)
  ids, _ = search.greedy_search(_table_fn(table), 2, 6, {})
  assert ids.numpy().tolist() == [[2, 3, 1, 0, 0, 0]] * 2


def test_beam_search_rows_are_independent():
  table = np.random.default_rng(0).random((V, V)) + 0.1
  table /= table.sum(1, keepdims=True)
  fn = _table_fn(table)
  one, _ = search.beam_search(fn, 1, 3, 5, V, 0.6, {})
  three, _ = search.beam_search(fn, 3, 3, 5, V, 0.6, {})
  for row in range(3):
    np.testing.assert_array_equal(three.numpy()[row], one.numpy()[0])


def test_beam_larger_than_vocabulary_keeps_real_hypotheses_only():
  table = np.full((V, V), 0.01)
  table[0, 2] = table[2, 3] = table[3, 1] = 0.9
  table /= table.sum(1, keepdims=True)
  ids, scores = search.beam_search(_table_fn(table), 1, V + 2, 6, V, 0.6, {})
  assert ids.numpy()[0, 0, :3].tolist() == [2, 3, 1]
  assert np.all(scores.numpy() > -1e6)  # no hypothesis grown from a dead beam


def test_a_long_unfinished_hypothesis_can_beat_short_finished_ones():
  # EOS right away is unlikely; the likely path never ends within max_length.
  table = np.full((V, V), 1e-6)
  table[0] = [1e-6, 0.02, 0.98, 1e-6, 1e-6]
  table[2] = [1e-6, 0.01, 0.99, 1e-6, 1e-6]
  table /= table.sum(1, keepdims=True)
  ids, scores = search.beam_search(_table_fn(table), 1, 2, 5, V, 0.6, {})
  assert ids.numpy()[0, 0].tolist() == [2, 2, 2, 2, 2]


def _random_logits_fn(vocab=7, seed=0):
  """A fixed distribution per (step, previous symbol)."""
  table = tf.random.stateless_normal([64, vocab, vocab], seed=[seed, 1]) * 3.0

  def fn(seq, step, state):
    return tf.gather(table[step], seq[:, step]), state
  return fn


def test_top_1_sampling_is_greedy_and_seeded_sampling_repeats():
  fn = _random_logits_fn()
  greedy, _ = search.greedy_search(fn, 5, 10, {})
  top1, _ = search.greedy_search(fn, 5, 10, {}, temperature=1.0, top_k=1, seed=3)
  np.testing.assert_array_equal(greedy.numpy(), top1.numpy())
  a, _ = search.greedy_search(fn, 5, 10, {}, temperature=1.0, seed=3)
  b, _ = search.greedy_search(fn, 5, 10, {}, temperature=1.0, seed=3)
  c, _ = search.greedy_search(fn, 5, 10, {}, temperature=1.0, seed=4)
  np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert not np.array_equal(a.numpy(), c.numpy())


def test_top_k_sampling_only_draws_from_the_k_likeliest():
  vocab = 7
  logits = tf.constant([[5.0, 4.0, 3.0, 0.0, 0.0, 0.0, 0.0]])
  fn = lambda seq, step, state: (tf.tile(logits, [tf.shape(seq)[0], 1]), state)  # noqa
  ids, _ = search.greedy_search(fn, 200, 1, {}, temperature=5.0, top_k=2, seed=1)
  drawn = set(ids.numpy().ravel().tolist())
  assert drawn == {0, 1} and vocab == 7


def test_forced_prefix_starts_every_search_and_scores_only_the_rest():
  fn = _random_logits_fn()
  prefix = tf.constant([[3, 4, 5], [6, 0, 0]])
  forced = search.force_prefix(fn, prefix, 1)
  ids, scores = search.greedy_search(forced, 2, 8, {})
  assert ids.numpy()[0, :3].tolist() == [3, 4, 5] and ids.numpy()[1, 0] == 6
  beam_ids, _ = search.beam_search(search.force_prefix(fn, prefix, 3), 2, 3, 8, 7, 0.0, {})
  assert beam_ids.numpy()[0, 0, :3].tolist() == [3, 4, 5]
  assert beam_ids.numpy()[1, 0, 0] == 6
  free, _ = search.greedy_search(search.force_prefix(fn, tf.zeros([2, 0], tf.int32), 1),
                                 2, 8, {})
  plain, _ = search.greedy_search(fn, 2, 8, {})
  np.testing.assert_array_equal(free.numpy(), plain.numpy())


@pytest.mark.parametrize("width,chunk", [(4096, 256), (5000, 256), (3001, 64)])
def test_top_k_wide_equals_top_k_ties_included(width, chunk):
  rng = np.random.default_rng(width)
  x = rng.normal(size=(6, width)).astype(np.float32)
  x[3] = rng.integers(0, 3, width)  # many exact ties: lower index must win
  x[4] = -search.INF
  x[4, [7, width - 1]] = 0.0  # a forced-prefix row: one-hot with -INF elsewhere
  x[5, : width // 2] = -np.inf
  expected = tf.math.top_k(x, k=8)
  values, indices = search.top_k_wide(tf.constant(x), 8, chunk=chunk)
  np.testing.assert_array_equal(values.numpy(), expected.values.numpy())
  np.testing.assert_array_equal(indices.numpy(), expected.indices.numpy())


def test_best_log_probs_are_the_normalized_best_logits():
  logits = tf.constant(np.random.default_rng(0).normal(scale=8, size=(5, 9000)), tf.float32)
  log_probs, ids = search._best_log_probs(logits, 6)
  expected = tf.math.top_k(tf.nn.log_softmax(logits), k=6)
  np.testing.assert_array_equal(ids.numpy(), expected.indices.numpy())
  np.testing.assert_allclose(log_probs.numpy(), expected.values.numpy(), atol=1e-5)


def test_beam_search_over_a_wide_vocabulary_equals_plain_top_k(monkeypatch):
  # Wide enough for top_k_wide's chunked path; the same search with tf.math.top_k must
  # choose the same hypotheses with the same scores.
  vocab, rng = 9000, np.random.default_rng(1)
  table = tf.constant(rng.normal(scale=3, size=(vocab, vocab)).astype(np.float32))

  def fn(seq, step, state):
    return tf.gather(table, seq[:, step]), state
  wide = search.beam_search(fn, 3, 4, 7, vocab, 0.6, {})
  monkeypatch.setattr(search, "top_k_wide", lambda x, k, chunk=256: tf.math.top_k(x, k=k))
  plain = search.beam_search(fn, 3, 4, 7, vocab, 0.6, {})
  np.testing.assert_array_equal(wide[0].numpy(), plain[0].numpy())
  np.testing.assert_allclose(wide[1].numpy(), plain[1].numpy(), rtol=1e-6)
