import math

import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import metrics


def test_metric_sums_ignore_padding():
  # Two sequences; the second has one padding position.
  targets = tf.constant([[2, 3, 1], [4, 1, 0]])
  logits = np.full((2, 3, 5), -10.0, np.float32)
  for b, row in enumerate([[2, 3, 1], [4, 2, 3]]):  # second sequence: one wrong token
    for t, tok in enumerate(row):
      logits[b, t, tok] = 10.0
  sums = metrics.metric_sums(tf.constant(logits), targets)
  result = metrics.finalize({k: float(v) for k, v in sums.items()})
  assert result["accuracy"] == pytest.approx(4 / 5)
  assert result["accuracy_per_sequence"] == pytest.approx(1 / 2)
  assert result["neg_log_perplexity"] < 0


def test_smoothed_loss_is_zero_at_the_smoothed_optimum_and_skips_padding():
  vocab, eps = 6, 0.1
  targets = tf.constant([[2, 5, 0]])
  probs = np.full((1, 3, vocab), eps / (vocab - 1))
  for t, tok in enumerate([2, 5, 3]):
    probs[0, t, tok] = 1 - eps
  loss, weight = metrics.smoothed_cross_entropy_sum(tf.constant(np.log(probs), tf.float32),
                                                    targets, eps)
  assert float(weight) == 2.0
  assert float(loss) == pytest.approx(0.0, abs=1e-4)
  plain, _ = metrics.smoothed_cross_entropy_sum(tf.zeros([1, 3, vocab]), targets, 0.0)
  assert float(plain) == pytest.approx(2 * math.log(vocab), rel=1e-5)


@pytest.mark.parametrize("smoothing", [0.1, 0.0])
def test_smoothed_loss_and_gradient_equal_the_dense_one_hot_cross_entropy(smoothing):
  rng = np.random.default_rng(0)
  vocab = 300
  logits = tf.constant(rng.normal(scale=5, size=(3, 7, vocab)), tf.float32)
  targets = tf.constant(rng.integers(1, vocab, (3, 7)), tf.int32)
  scale = tf.constant(rng.uniform(0.5, 2, (3, 7)), tf.float32)  # a non-uniform upstream

  def dense(logits):  # the textbook form: soft one-hot labels
    soft = tf.one_hot(targets, vocab, on_value=1 - smoothing,
                      off_value=smoothing / (vocab - 1))
    return tf.nn.softmax_cross_entropy_with_logits(labels=soft, logits=logits)

  def fused(logits):
    return tf.reshape(metrics._smoothed_xent(
        tf.reshape(logits, [-1, vocab]), tf.reshape(targets, [-1]), 1 - smoothing,
        smoothing / (vocab - 1)), [3, 7])

  results = []
  for fn in (dense, fused):
    with tf.GradientTape() as tape:
      tape.watch(logits)
      loss = fn(logits)
      total = tf.reduce_sum(loss * scale)
    results.append((loss.numpy(), tape.gradient(total, logits).numpy()))
  np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(results[1][1], results[0][1], atol=1e-6)


@pytest.mark.parametrize("gap", [10.0, 400.0])
def test_loss_is_exact_when_a_label_probability_underflows(gap):
  # The log normalizer comes from the label's probability; at a gap of 400 that is 0 in
  # float32 and the best logit's is used instead. Both agree with the textbook loss.
  vocab = 20
  logits = np.zeros((2, vocab), np.float32)
  logits[:, 3] = gap / 2
  logits[0, 7] = -gap / 2
  labels = tf.constant([7, 5], tf.int32)
  got = metrics._smoothed_xent(tf.constant(logits), labels, 1.0, 0.0).numpy()
  want = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits).numpy()
  assert np.isfinite(got).all()
  np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("smoothing,compute", [(0.1, tf.float32), (0.0, tf.float32),
                                                (0.1, tf.bfloat16)])
def test_projected_loss_and_gradients_equal_the_loss_of_the_projected_logits(smoothing,
                                                                            compute):
  # The fused softmax + loss against the loss of materialized logits: loss, d/dx, d/dtable
  # (repeated labels, a weighted upstream, padding tokens, in float32 and bfloat16).
  rng = np.random.default_rng(1)
  vocab, hidden = 50, 8
  x = tf.constant(rng.normal(size=(3, 7, hidden)), tf.float32)
  table = tf.constant(rng.normal(scale=0.7, size=(vocab, hidden)), tf.float32)
  targets = tf.constant(rng.integers(0, 6, (3, 7)), tf.int32)  # repeats, some padding (0)
  confidence, low = metrics.label_smoothing_targets(vocab, smoothing)

  def projected(x, table):
    return metrics.masked_xent_sum(metrics.projected_smoothed_xent(
        tf.reshape(tf.cast(x, compute), [-1, hidden]), table, tf.reshape(targets, [-1]),
        confidence, low), targets, vocab, smoothing)

  def materialized(x, table):
    logits = tf.matmul(tf.cast(x, compute), tf.cast(table, compute), transpose_b=True)
    return metrics.smoothed_cross_entropy_sum(logits, targets, smoothing)

  results = []
  for fn in (materialized, projected):
    with tf.GradientTape() as tape:
      tape.watch([x, table])
      loss, tokens = fn(x, table)
      total = 0.37 * loss
    results.append([loss.numpy(), tokens.numpy()] +
                   [g.numpy() for g in tape.gradient(total, [x, table])])
  tol = 1e-5 if compute == tf.float32 else 2e-2
  for got, want in zip(results[1], results[0]):
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_unknown_metric_name_is_a_user_error():
  from t2t_lite.errors import UserError
  with pytest.raises(UserError, match="accuracy"):
    metrics.check_names(["acuracy"], "p")
