"""Loss and eval metrics over padded target batches (padding id 0 is never counted).

Metrics are computed as sums per batch (so replicas and batches add up exactly) and turned
into means at the end: accuracy (per token), accuracy_per_sequence (every token of the
sequence right) and neg_log_perplexity (mean log-probability of the target tokens),
Tensor2Tensor's teacher-forced eval metrics.

Each metric declares its direction (higher_is_better), which best-checkpoint keeping and
early stopping read. A user's own metric is registered with `register_metric`, direction
included, and then named in a problem's eval_metrics. Metrics of decoded text (BLEU, ...)
are declared here too (DECODED_METRICS, register_decoded_metric): the decoders compute
them, and everything that ranks by a metric reads its direction from this one module.
"""
import dataclasses
import math
import typing
from collections.abc import Callable

import tensorflow as tf

from t2t_lite import bleu
from t2t_lite.errors import UserError, suggestion

# Below this probability a label's log-probability loses precision (float32 subnormals).
_SMALLEST_EXACT_PROB = 1e-30


def _log_normalizer(logits, probs, labels, label_logits):
  """log sum exp(logits) per row, from the softmax already computed: a logit minus the log
  of its probability. The label's (label_logits, which the caller gathered; one gather of
  probs) unless some label's probability is too small to take the log of; then the best
  logit's (at least 1 / vocab), whose argmax pass over [n, vocab] cost as much as a third
  of the softmax. The gradient never reads it."""
  label_probs = tf.gather(probs, labels, batch_dims=1)

  def at_best():
    best = tf.argmax(logits, -1, output_type=tf.int32)
    return (tf.gather(logits, best, batch_dims=1) -
            tf.math.log(tf.gather(probs, best, batch_dims=1)))
  return tf.cond(tf.reduce_min(label_probs) >= _SMALLEST_EXACT_PROB,
                 lambda: label_logits - tf.math.log(label_probs), at_best)


def _smoothed_xent(logits, labels, confidence, low):
  """Per row of logits [n, vocab]: -sum_v q_v log softmax(logits)_v, where q puts
  `confidence` on labels [n] and `low` on every other symbol.

  The gradient p - q is built from one fused (oneDNN) softmax, and no [n, vocab] one-hot
  target is written: tf.nn.softmax_cross_entropy_with_logits on a dense one-hot took 93 ms
  of a 470 ms transformer_tiny step on a 2-core CPU. The loss needs only the log
  normalizer (_log_normalizer)."""
  @tf.custom_gradient
  def xent(logits):
    probs = tf.nn.softmax(logits)
    label_logits = tf.gather(logits, labels, batch_dims=1)
    log_normalizer = _log_normalizer(logits, probs, labels, label_logits)
    loss = (log_normalizer - (confidence - low) * label_logits -
            low * tf.reduce_sum(logits, -1))

    def grad(dy):
      at_labels = tf.stack([tf.range(tf.shape(labels)[0]), labels], axis=1)
      return tf.tensor_scatter_nd_sub((probs - low) * dy[:, None], at_labels,
                                      (confidence - low) * dy)
    return loss, grad
  return xent(logits)


def projected_smoothed_xent(x, table, labels, confidence, low):
  """_smoothed_xent of the logits x @ table^T ([n, hidden] against [vocab, hidden]), with
  the projection's gradient taken through the loss in one piece: no [n, vocab] tensor but
  the logits and their softmax is written (the logits' gradient p - q and the three
  reductions over the logits were as many passes over the largest tensor of a step: a
  tenth of a small Transformer's step on a 2-core CPU).

  With g = dy (p - q), q = low + (confidence - low) [v = label], S = the table's column
  sums and u = dy x:
    dx = dy (p @ table - low S - (confidence - low) table[label])
    dtable = p^T u - low sum_i u_i - (confidence - low) (u summed per label)
  The matmuls run in x's dtype (the compute dtype); the softmax and the loss in float32."""
  compute = x.dtype

  @tf.custom_gradient
  def xent(x, table):
    kernel = tf.cast(table, compute)
    logits = tf.cast(tf.matmul(x, kernel, transpose_b=True), tf.float32)
    probs = tf.nn.softmax(logits)
    label_logits = tf.gather(logits, labels, batch_dims=1)
    log_normalizer = _log_normalizer(logits, probs, labels, label_logits)
    table32 = tf.cast(table, tf.float32)
    x32 = tf.cast(x, tf.float32)
    column_sums = tf.reduce_sum(table32, 0)
    loss = (log_normalizer - (confidence - low) * label_logits -
            low * tf.linalg.matvec(x32, column_sums))

    def grad(dy):
      p = tf.cast(probs, compute)
      dx = dy[:, None] * (tf.cast(tf.matmul(p, kernel), tf.float32) - low * column_sums -
                          (confidence - low) * tf.gather(table32, labels))
      u = dy[:, None] * x32
      # u^T p ([hidden, vocab]) then a transpose of that small result: faster in oneDNN
      # than p^T u, whose transposed operand is the [n, vocab] one.
      dtable = tf.tensor_scatter_nd_sub(  # (duplicate labels add up)
          tf.transpose(tf.cast(tf.matmul(tf.cast(u, compute), p, transpose_a=True),
                               tf.float32)) - low * tf.reduce_sum(u, 0),
          labels[:, None], (confidence - low) * u)
      return tf.cast(dx, compute), tf.cast(dtable, table.dtype)
    return loss, grad
  return xent(x, table)


def label_smoothing_targets(vocab_size, label_smoothing):
  """(confidence, low): the smoothed target puts confidence on the label, low elsewhere."""
  return 1.0 - label_smoothing, label_smoothing / max(vocab_size - 1, 1)


def smoothed_cross_entropy_sum(logits, targets, label_smoothing):
  """(sum of label-smoothed cross-entropy over non-padding tokens, number of such tokens)."""
  vocab_size = logits.shape[-1]
  confidence, low = label_smoothing_targets(vocab_size, label_smoothing)
  xent = _smoothed_xent(tf.reshape(tf.cast(logits, tf.float32), [-1, vocab_size]),
                        tf.reshape(targets, [-1]), confidence, low)
  return masked_xent_sum(xent, targets, vocab_size, label_smoothing)


def masked_xent_sum(xent, targets, vocab_size, label_smoothing):
  """(sum over non-padding tokens, their count) of per-token cross-entropies xent (flat).

  As in Tensor2Tensor, the entropy of the smoothed target distribution is subtracted, so
  a perfect prediction has loss 0 whatever the smoothing."""
  xent = tf.reshape(xent, tf.shape(targets))
  if label_smoothing > 0:
    confidence, low = label_smoothing_targets(vocab_size, label_smoothing)
    xent -= -(confidence * math.log(confidence) +
              (vocab_size - 1) * low * math.log(low + 1e-20))
  weights = tf.cast(tf.not_equal(targets, 0), tf.float32)
  return tf.reduce_sum(xent * weights), tf.reduce_sum(weights)


def metric_sums(logits, targets):
  """Sums over the batch; `finalize` turns them into the metrics."""
  logits = tf.cast(logits, tf.float32)
  weights = tf.cast(tf.not_equal(targets, 0), tf.float32)
  predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
  correct = tf.cast(tf.equal(predictions, targets), tf.float32) * weights
  log_probs = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
  wrong_in_sequence = tf.reduce_sum(weights - correct, axis=-1)
  return {
      "tokens": tf.reduce_sum(weights),
      "correct_tokens": tf.reduce_sum(correct),
      "sequences": tf.cast(tf.shape(targets)[0], tf.float32),
      "correct_sequences": tf.reduce_sum(tf.cast(tf.equal(wrong_in_sequence, 0), tf.float32)),
      "log_prob": tf.reduce_sum(log_probs * weights),
  }


def _per_token(key):
  return lambda s: float(s[key]) / max(float(s["tokens"]), 1.0)


@dataclasses.dataclass(frozen=True)
class Metric:
  """A metric's value from the summed batch statistics, and which way is better."""
  compute: Callable[[dict], float]
  higher_is_better: bool

  def __call__(self, sums):
    return self.compute(sums)


# Metric name -> its Metric; a problem lists the ones it reports.
METRICS = {
    "accuracy": Metric(_per_token("correct_tokens"), higher_is_better=True),
    "accuracy_per_sequence": Metric(
        lambda s: float(s["correct_sequences"]) / max(float(s["sequences"]), 1.0),
        higher_is_better=True),
    "neg_log_perplexity": Metric(_per_token("log_prob"), higher_is_better=True),
    # Speech (CTC) models: the sums come from speech_metrics.text_error_sums.
    "wer": Metric(lambda s: float(s["word_errors"]) / max(float(s["words"]), 1.0),
                  higher_is_better=False),
    "cer": Metric(lambda s: float(s["char_errors"]) / max(float(s["chars"]), 1.0),
                  higher_is_better=False),
    "ctc_loss": Metric(_per_token("ctc_loss"), higher_is_better=False),
}


def register_metric(name: str, compute: Callable[[dict], float], *,
                    higher_is_better: bool) -> Metric:
  """Adds a metric a problem may list in eval_metrics: compute(sums) -> value, where sums
  are the batch sums of the model's eval_metric_sums added over the eval split."""
  old = METRICS.get(name)
  if old is not None and old.higher_is_better != higher_is_better:
    # (A module imported twice registers again: that is harmless, a flipped direction not.)
    raise UserError(f"eval metric '{name}' is registered twice, with opposite directions")
  METRICS[name] = Metric(compute, higher_is_better)
  return METRICS[name]


def _bleu(hypotheses, references):
  result, signature = bleu.corpus_bleu(hypotheses, references)
  return result.score, signature


class DecodedMetric(typing.NamedTuple):
  """A metric of decoded text: what computes it, (hypotheses, references) -> (score,
  signature of how it was computed), and which way is better."""
  implementation: str
  compute: Callable[[list, list], tuple[float, str]]
  higher_is_better: bool


# Metrics of decoded text that a problem may list in decode_metrics, by name.
DECODED_METRICS = {"bleu": DecodedMetric("sacrebleu", _bleu, higher_is_better=True)}


def register_decoded_metric(name: str, implementation: str,
                            compute: Callable[[list, list], tuple[float, str]], *,
                            higher_is_better: bool) -> DecodedMetric:
  """Adds a metric of decoded text (e.g. chrF, TER) that problems may list in
  decode_metrics."""
  old = DECODED_METRICS.get(name)
  if old is not None and old.higher_is_better != higher_is_better:
    raise UserError(f"decode metric '{name}' is registered twice, with opposite directions")
  DECODED_METRICS[name] = DecodedMetric(implementation, compute, higher_is_better)
  return DECODED_METRICS[name]


def check_decoded_metric_names(names, problem_name):
  for name in names:
    if name not in DECODED_METRICS:
      raise UserError(f"problem '{problem_name}' asks for unknown decode metric '{name}'"
                      f"{suggestion(name, DECODED_METRICS)}")


def direction(name: str) -> bool | None:
  """Whether a larger value of metric `name` is a better model, as declared with the
  metric (METRICS for teacher-forced metrics, DECODED_METRICS for metrics of decoded text,
  either extended by register_metric / register_decoded_metric); a mixture member's
  `member/metric` takes the direction of `metric`. None for a name nobody declared.

  The one place that ranks trials (t2t-sweep), keeps the best checkpoint (--best_metric)
  and steers a search reads directions from."""
  base = name.rsplit("/", 1)[-1]
  if base in METRICS:
    return METRICS[base].higher_is_better
  if base in DECODED_METRICS:
    return DECODED_METRICS[base].higher_is_better
  return None


def higher_is_better(name: str) -> bool:
  """direction(name), where a name nobody declared (a training curve such as `loss` has
  no declared direction) counts as higher-is-better."""
  declared = direction(name)
  return True if declared is None else declared


def check_names(names, problem_name):
  for n in names:
    if n not in METRICS:
      raise UserError(f"problem '{problem_name}' asks for unknown eval metric '{n}'"
                      f"{suggestion(n, METRICS)}")


TEACHER_FORCED = ("accuracy", "accuracy_per_sequence", "neg_log_perplexity")


def finalize(sums, names=TEACHER_FORCED):
  return {n: METRICS[n](sums) for n in names}
