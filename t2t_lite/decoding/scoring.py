"""Scoring given outputs (t2t-decoder --score_file): the model's log-probability of each
target token given the source and the target's earlier tokens, teacher-forced, in one
forward pass per batch and without any search.

The total of a pair is what the model's loss sums for it without label smoothing (its
negative cross-entropy), and what a beam search that finds that output reports as its
log-probability. A model here is anything that maps features to logits: a T2TModel, or an
ensemble.Ensemble (whose "logits" are its members' mean log-probabilities, normalized
again as its search normalizes them).
"""
import numpy as np
import tensorflow as tf

from t2t_lite.decoding.batching import map_length_sorted


def token_log_probs(model, features):
  """log p(target token | source, earlier tokens) [b, t]; 0 at padding."""
  targets = features["targets"]
  log_probs = tf.nn.log_softmax(tf.cast(model(features, training=False), tf.float32))
  chosen = tf.gather(log_probs, targets, batch_dims=2)
  return tf.where(tf.not_equal(targets, 0), chosen, 0.0)


def score_pairs(model, pairs, batch_size, has_inputs=True):
  """[(total log-probability, [per-token log-probabilities])] of (source ids, target ids)
  pairs (both ending with EOS; no source without inputs), in the order given."""
  signature = [tf.TensorSpec([None, None], tf.int32)] * (2 if has_inputs else 1)

  @tf.function(input_signature=signature)
  def score(*tensors):
    features = dict(zip(("targets", "inputs"), tensors))
    return token_log_probs(model, features)

  def pad(rows):
    width = max(1, max(len(r) for r in rows))
    return tf.constant([list(r) + [0] * (width - len(r)) for r in rows], tf.int32)

  def score_batch(batch):
    args = [pad([t for _, t in batch])] + ([pad([s for s, _ in batch])] if has_inputs else [])
    log_probs = score(*args).numpy()
    out = []
    for (_, target), row in zip(batch, log_probs):
      per_token = [float(x) for x in row[:len(target)]]
      out.append((float(np.sum(per_token, dtype=np.float64)), per_token))
    return out

  # Batched by the longer side, so a batch pads little.
  return map_length_sorted(pairs, batch_size, score_batch,
                           length=lambda pair: max(len(pair[0]), len(pair[1])))


def format_line(total, per_token):
  """`total<TAB>mean per token<TAB>space-separated per-token log-probabilities`."""
  mean = total / max(len(per_token), 1)
  return f"{total:.6f}\t{mean:.6f}\t{' '.join(f'{x:.6f}' for x in per_token)}\n"
