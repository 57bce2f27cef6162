"""Measuring the framework: training step time, FLOP utilization, decoding and input speed.

Everything runs through the same code paths as t2t-trainer and t2t-decoder (TrainStep,
T2TModel.infer/transcribe, input_pipeline.make_dataset), on synthetic batches of fixed
shape so the numbers compare with the bare-TensorFlow and PyTorch reference scripts.
What differs between model families (batch, FLOPs, units, decoding) is in
benchmark_adapters.py.
"""
import collections
import glob
import resource
import statistics
import tempfile
import time

import tensorflow as tf

from t2t_lite.training import learning_rate, optimizers
from t2t_lite.training.train_step import TrainStep
from t2t_lite.training.trainer import build_model

# The hparam that selects reduced-precision compute (mixed precision), and its values that
# make the bfloat16 matmul peak the MFU denominator.
PRECISION_HPARAM = "activation_dtype"
BF16_VALUES = ("bfloat16", "mixed_bfloat16")


def precision(hp):
  """'bf16' when the hparams compute in bfloat16, else 'fp32'."""
  return "bf16" if hp.get(PRECISION_HPARAM, "float32") in BF16_VALUES else "fp32"


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


def peak_memory_mib():
  if tf.config.list_physical_devices("GPU"):
    return round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2 ** 20, 1)
  return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _median_ms(times):
  return round(1e3 * statistics.median(times), 2)


class TrainBench:
  """The trainer's own TrainStep on a fixed batch, under `strategy`."""

  def __init__(self, model_cls, hp, features, strategy):
    self.strategy = strategy
    with strategy.scope():
      self.model = build_model(model_cls, hp)
      self.model.build_from_features(
          self.model.dummy_features(hp.get("has_inputs", True)))
      optimizer = optimizers.make_optimizer(hp, learning_rate.FactorSchedule(hp, 10 ** 6))
      optimizer.build(self.model.trainable_variables)
      global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.step = TrainStep(strategy, self.model, optimizer, hp, global_step,
                          max_nonfinite_steps=10 ** 9)
    self.iterator = iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(features).repeat()))
    self.one = tf.constant(1)

  def run_step(self):
    return float(self.step.run(self.iterator, self.one))

  def speed(self, warmup, steps):
    """Median ms per step of `steps` timed steps after `warmup` (the first one traces)."""
    start = time.perf_counter()
    self.run_step()
    first_s = time.perf_counter() - start
    for _ in range(max(0, warmup - 1)):
      self.run_step()
    times = []
    for _ in range(steps):
      start = time.perf_counter()
      loss = self.run_step()
      times.append(time.perf_counter() - start)
    return {"ms_per_step": _median_ms(times), "ms_per_step_min": round(1e3 * min(times), 2),
            "first_step_s": round(first_s, 2), "final_loss": round(loss, 4),
            "traces": self.step.run.experimental_get_tracing_count()}

  def profile(self, steps=3, top=15):
    """Per-op-type ms per step of `steps` training steps (see profile_ops)."""
    return profile_ops(self.run_step, steps, top)


def profile_ops(fn, calls=3, top=15):
  """Per-op-type ms per call of fn() from a tf.profiler trace of `calls` calls (host plane,
  op events summed by type), as shared/bench/opprof.py reports for the references."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2
  logdir = tempfile.mkdtemp(prefix="t2t_benchmark_profile_")
  tf.profiler.experimental.start(logdir)
  start = time.perf_counter()
  for _ in range(calls):
    fn()
  wall = time.perf_counter() - start
  tf.profiler.experimental.stop()
  space = xplane_pb2.XSpace()
  with open(sorted(glob.glob(f"{logdir}/plugins/profile/*/*.xplane.pb"))[-1], "rb") as fh:
    space.ParseFromString(fh.read())
  ops = collections.Counter()
  for plane in space.planes:
    if plane.name != "/host:CPU":
      continue
    for line in plane.lines:
      for event in line.events:
        name = plane.event_metadata[event.metadata_id].name.split("#")[0]
        if ":" not in name or "::" in name:  # executor/runtime scopes
          continue
        op_type = name.rsplit(":", 1)[1]
        if (not op_type.replace("_", "").isalnum() or op_type.startswith("__") or
            op_type in ("PartitionedCall", "StatefulPartitionedCall", "While", "If",
                        "StatelessIf", "StatelessWhile")):
          continue
        ops[op_type] += event.duration_ps / 1e9
  total = sum(ops.values())
  matmul = sum(v for k, v in ops.items() if "MatMul" in k or "Conv" in k or "Einsum" in k)
  return {"profiled_wall_ms_per_call": round(1e3 * wall / calls, 1),
          "summed_op_ms_per_call": round(total / calls, 1),
          "matmul_conv_share_of_op_time": round(matmul / max(total, 1e-9), 3),
          "top_ops_ms_per_call": {k: round(v / calls, 1) for k, v in ops.most_common(top)}}


def input_speed(problem, hp, data_dir, batches, adapter):
  """Examples and real units (tokens, audio seconds) per second out of the training input
  pipeline (TFRecords -> batches), and the fraction of padding in its batches."""
  from t2t_lite.data import input_pipeline
  ds = input_pipeline.make_dataset(problem, hp, data_dir, "train", training=True, seed=1)
  it = iter(ds)
  next(it)
  start, examples, real, total = time.perf_counter(), 0, 0.0, 0.0
  for _ in range(batches):
    batch = next(it)
    examples += int(batch["targets"].shape[0])
    r, t = adapter.batch_units(hp, batch)
    real, total = real + r, total + t
  seconds = time.perf_counter() - start
  return {"input_examples_per_s": round(examples / seconds, 1),
          f"input_{adapter.unit}_per_s": round(real / seconds, 1),
          "padding_fraction": round(1 - real / max(total, 1e-9), 4)}
