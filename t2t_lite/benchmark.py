"""Measuring the framework: training step time, FLOP utilization, decoding and input speed.

Everything runs through the same code paths as t2t-trainer and t2t-decoder (TrainStep,
T2TModel.infer, input_pipeline.make_dataset), on synthetic batches of fixed shape so the
numbers compare with the bare-TensorFlow and PyTorch reference scripts.
"""
import resource
import statistics
import time

import numpy as np
import tensorflow as tf

from t2t_lite.data.text_encoder import EOS_ID
from t2t_lite.training import learning_rate, optimizers
from t2t_lite.training.train_step import TrainStep
from t2t_lite.training.trainer import build_model


def matmul_peak_gflops(n=2048, steps=20, repeats=3, warmup=3):
    """Best measured n x n matmul GFLOP/s in float32 and bfloat16 (the MFU denominators)."""
    out = {}
    for name, dtype in (("fp32", tf.float32), ("bf16", tf.bfloat16)):
      a = tf.random.normal([n, n], dtype=tf.float32)
      a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
      run = tf.function(lambda: tf.matmul(a, b))
      for _ in range(warmup):
        run().numpy()
      best = 0.0
      for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
          r = run()
        r.numpy()
        best = max(best, 2 * n ** 3 * steps / (time.perf_counter() - start) / 1e9)
      out[name] = round(best, 1)
    return out


def transformer_train_flops(hp, batch, src_len, tgt_len):
  """Training FLOPs of one step (3 x forward, 2 per multiply-add), counted as the reference
  scripts count them: dense layers, attention scores and sums, the tied softmax."""
  d, f = hp.hidden_size, hp.filter_size
  n_enc = hp.num_encoder_layers or hp.num_hidden_layers
  n_dec = hp.num_decoder_layers or hp.num_hidden_layers
  dense = 6 * (n_enc * (4 * d * d + 2 * d * f) * batch * src_len +
               n_dec * (8 * d * d + 2 * d * f) * batch * tgt_len)
  attention = 12 * batch * d * (n_enc * src_len ** 2 +
                                n_dec * (tgt_len ** 2 + tgt_len * src_len))
  softmax = 6 * hp.target_vocab_size * d * batch * tgt_len
  return dense + attention + softmax


def peak_memory_mib():
  if tf.config.list_physical_devices("GPU"):
    return round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2 ** 20, 1)
  return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def synthetic_features(batch, src_len, tgt_len, vocab_size, seed=1234):
  """Random ids without padding or EOS: every position is a real token."""
  rng = np.random.default_rng(seed)
  return {"inputs": tf.constant(rng.integers(2, vocab_size, (batch, src_len)), tf.int32),
          "targets": tf.constant(rng.integers(2, vocab_size, (batch, tgt_len)), tf.int32)}


def synthetic_sources(batch, src_len, vocab_size, seed=4321):
  """Decoder inputs as the decoder sees them: src_len - 1 tokens, then EOS."""
  rng = np.random.default_rng(seed)
  ids = rng.integers(2, vocab_size, (batch, src_len))
  ids[:, -1] = EOS_ID
  return tf.constant(ids, tf.int32)


def _median_ms(times):
  return round(1e3 * statistics.median(times), 2)


def train_speed(model_cls, hp, features, warmup, steps, strategy=None):
  """Median ms per training step of the trainer's own TrainStep on a fixed batch."""
  strategy = strategy or tf.distribute.get_strategy()
  with strategy.scope():
    model = build_model(model_cls, hp)
    model.build_from_features({k: v[:1, :1] for k, v in features.items()})
    optimizer = optimizers.make_optimizer(hp, learning_rate.FactorSchedule(hp, 10 ** 6))
    optimizer.build(model.trainable_variables)
    global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
  step = TrainStep(strategy, model, optimizer, hp, global_step, max_nonfinite_steps=10 ** 9)
  iterator = iter(strategy.experimental_distribute_dataset(
      tf.data.Dataset.from_tensors(features).repeat()))
  one = tf.constant(1)
  start = time.perf_counter()
  float(step.run(iterator, one))
  first_s = time.perf_counter() - start
  for _ in range(max(0, warmup - 1)):
    float(step.run(iterator, one))
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    loss = float(step.run(iterator, one))
    times.append(time.perf_counter() - start)
  return {"ms_per_step": _median_ms(times), "ms_per_step_min": round(1e3 * min(times), 2),
          "first_step_s": round(first_s, 2), "final_loss": round(loss, 4)}, model


def _output_tokens(ids):
  """Tokens each row produced: up to and including its EOS, or all of them."""
  total = 0
  for row in ids:
    eos = np.flatnonzero(row == EOS_ID)
    total += int(eos[0]) + 1 if eos.size else len(row)
  return total


def decode_speed(model, inputs, beam_size, alpha, output_length, repeats):
  """Output tokens per second of cached beam search (each row decodes up to
  output_length tokens; tokens after an EOS are not counted)."""
  src_len = int(inputs.shape[1])

  @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
  def decode(x):
    return model.infer(x, beam_size=beam_size, alpha=alpha,
                       extra_length=output_length - src_len)
  decode(inputs)[0].numpy()
  times, tokens = [], 0
  for _ in range(repeats):
    start = time.perf_counter()
    ids = decode(inputs)[0].numpy()
    times.append(time.perf_counter() - start)
    tokens = _output_tokens(ids)
  return {"decode_ms_per_batch": _median_ms(times), "decode_output_tokens": tokens,
          "decode_output_tokens_per_s": round(tokens / statistics.median(times), 1)}


def input_speed(problem, hp, data_dir, batches):
  """Examples per second out of the training input pipeline (TFRecords -> batches)."""
  from t2t_lite.data import input_pipeline
  ds = input_pipeline.make_dataset(problem, hp, data_dir, "train", training=True, seed=1)
  it = iter(ds)
  next(it)
  start, examples, padding, tokens = time.perf_counter(), 0, 0, 0
  for _ in range(batches):
    batch = next(it)
    targets = batch["targets"].numpy()
    examples += targets.shape[0]
    tokens += targets.size
    padding += int((targets == 0).sum())
  seconds = time.perf_counter() - start
  return {"input_examples_per_s": round(examples / seconds, 1),
          "input_target_tokens_per_s": round((tokens - padding) / seconds, 1),
          "padding_fraction": round(padding / max(tokens, 1), 4)}
