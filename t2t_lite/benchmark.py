"""Measuring the framework: training step time, FLOP utilization, decoding and input speed.

Everything runs through the same code paths as t2t-trainer and t2t-decoder (TrainStep,
T2TModel.predict, input_pipeline.make_dataset), on synthetic batches of fixed shape so the
numbers compare with the bare-TensorFlow and PyTorch reference scripts. What differs
between models (the synthetic batch, the FLOP formula, the throughput unit) the model
declares (T2TModel's measurement hooks), so any registered model is measured, a user's
included.
"""
import collections
import glob
import platform
import resource
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from t2t_lite import options
from t2t_lite.data import input_pipeline
from t2t_lite.data.text_encoder import EOS_ID
from t2t_lite.decoding import ensemble
from t2t_lite.errors import UserError
from t2t_lite.options import setting
from t2t_lite.t2t_model import BenchmarkShape, Search
from t2t_lite.training import learning_rate, optimizers, strategies
from t2t_lite.training.train_step import TrainStep
from t2t_lite.training.trainer import build_model

# The hparam that selects reduced-precision compute (mixed precision), and its values that
# make the bfloat16 matmul peak the MFU denominator.
PRECISION_HPARAM = "activation_dtype"
BF16_VALUES = ("bfloat16", "mixed_bfloat16")
SHAPE_SETTINGS = ("batch", "src_len", "tgt_len", "vocab_size", "decode_src_len")


@options.group()
class BenchmarkOptions(options.Options):
  """t2t-benchmark's settings. Unset shapes are the model's (T2TModel.benchmark_shape)."""
  batch: int | None = setting(None, "Examples per synthetic training batch (global, split "
                              "over the replicas). Default: the model's (32 text, 16 "
                              "speech).", minimum=1)
  src_len: int | None = setting(None, "Input length of the synthetic batch: tokens, or "
                                "feature frames for speech. Default: 64 text, 400 speech.",
                                minimum=1)
  tgt_len: int | None = setting(None, "Target tokens of the synthetic batch. Default: 64 "
                                "text, 40 speech.", minimum=1)
  vocab_size: int | None = setting(None, "Target vocabulary size (ignored with --problem "
                                   "--data_dir). Default: 32768 text, 30 speech characters.",
                                   minimum=3)
  warmup: int = setting(3, "Untimed training steps (the first one traces).", minimum=1)
  steps: int = setting(10, "Timed training steps (the median is reported).", minimum=1)
  decode_batch: int = setting(32, "Sentences per decoding batch (0: skip decoding).",
                              minimum=0)
  decode_src_len: int | None = setting(None, "Source tokens (EOS included), or feature "
                                       "frames for speech, per decoded example. Default: 32 "
                                       "text, 400 speech.", minimum=1)
  decode_length: int = setting(64, "Output tokens per decoded sentence at most (the search "
                               "may end a sentence earlier at EOS; tokens after it are not "
                               "counted).", minimum=1)
  beam_size: int = setting(4, "Beam size for the decoding measurement (speech: CTC prefix "
                           "beam search; 1: greedy).", minimum=1)
  alpha: float = setting(0.6, "Length penalty for the decoding measurement.", minimum=0)
  decode_repeats: int = setting(3, "Timed decoding batches (the median is reported).",
                                minimum=1)
  ensemble: int = setting(1, "Decode with an ensemble of this many models of these hparams "
                          "(each with its own random weights), as t2t-decoder --ensemble "
                          "does.", minimum=1)
  input_batches: int = setting(50, "Batches read to time the input pipeline.", minimum=1)
  strategy: str = setting("default", "tf.distribute strategy of the training step (as "
                          "t2t-trainer's).", choices=strategies.LOCAL_STRATEGIES)
  worker_gpu: int = setting(0, "Replicas for --strategy=mirrored (0: all GPUs; on CPU, "
                            "that many logical devices).", minimum=0)
  profile: bool = setting(False, "Also trace 3 training steps and 2 decoded batches with "
                          "tf.profiler and report the ms per step (per batch) of the top op "
                          "types.")
  smoke: bool = setting(False, "Tiny shapes and few steps: checks that it all runs.")

  def with_model_defaults(self, model_cls, explicit=()):
    """Unset shapes from the model; --smoke's tiny shapes and few steps, except for the
    settings named in `explicit` (given on the command line)."""
    changes = {}
    shape = model_cls.benchmark_shape(smoke=self.smoke)
    for name in SHAPE_SETTINGS:
      if getattr(self, name) is None:
        changes[name] = getattr(shape, name)
    if self.smoke:
      smoke = dict(warmup=1, steps=2, decode_batch=2, decode_length=10, decode_repeats=1,
                   input_batches=5)
      changes.update({k: v for k, v in smoke.items() if k not in explicit})
    return self.replace(**changes)

  def shape(self):
    return BenchmarkShape(self.batch, self.src_len, self.tgt_len, self.vocab_size,
                          self.decode_src_len)

  def check(self, model_cls, replicas):
    if self.batch % replicas:
      raise UserError(f"--batch={self.batch} must be divisible by the {replicas} replicas "
                      f"of --strategy={self.strategy}")
    if self.decode_batch and model_cls.DECODES_TO_LENGTH and (
        self.decode_length < self.decode_src_len):
      raise UserError("--decode_length must be at least --decode_src_len")


def precision(hp):
  """'bf16' when the hparams compute in bfloat16, else 'fp32'."""
  return "bf16" if hp.get(PRECISION_HPARAM, "float32") in BF16_VALUES else "fp32"


def matmul_peak_gflops(n=2048, steps=20, repeats=3, warmup=3):
  """Best measured n x n matmul GFLOP/s in float32 and bfloat16 (the MFU denominators)."""
  out = {}
  for name, dtype in (("fp32", tf.float32), ("bf16", tf.bfloat16)):
    a = tf.random.normal([n, n], dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    run = tf.function(lambda a=a, b=b: tf.matmul(a, b))
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


def _timed(fn, repeats):
  """fn() once untimed (traces), then `repeats` timed calls -> (times, last result)."""
  fn()
  times, out = [], None
  for _ in range(repeats):
    start = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - start)
  return times, out


def _output_tokens(ids, stops_at_eos):
  """Tokens produced: up to and including each row's EOS (token search), or every
  non-padding id (CTC)."""
  if not stops_at_eos:
    return int((ids != 0).sum())
  tokens = 0
  for row in ids:
    eos = np.flatnonzero(row == EOS_ID)
    tokens += int(eos[0]) + 1 if eos.size else len(row)
  return tokens


def decode_speed(model, hp, settings, profile=False):
  """Output tokens per second of the model's predict() on decode_batch synthetic inputs
  (token models: beam search to at most decode_length tokens, tokens after an EOS not
  counted; speech: CTC decoding of decode_src_len frames, also in audio seconds/s)."""
  model_cls = type(model)
  features = model_cls.benchmark_decode_features(hp, settings.decode_batch,
                                                 settings.decode_src_len)
  search = Search(beam_size=settings.beam_size, alpha=settings.alpha,
                  extra_length=settings.decode_length - settings.decode_src_len)
  decoding = model if settings.ensemble == 1 else _ensemble(model, hp, settings.ensemble)

  @tf.function
  def decode(features):
    return decoding.predict(features, search)[0]
  call = lambda: decode(features).numpy()  # noqa: E731
  times, out = _timed(call, settings.decode_repeats)
  seconds = statistics.median(times)
  tokens = _output_tokens(out, stops_at_eos=model_cls.DECODES_TO_LENGTH)
  result = {"decode": model_cls.describe_search(search) + (
      f", ensemble of {settings.ensemble}" if settings.ensemble > 1 else ""),
            "decode_ms_per_batch": _median_ms(times), "decode_output_tokens": tokens,
            "decode_output_tokens_per_s": round(tokens / seconds, 1)}
  if model_cls.DECODE_THROUGHPUT_KEY:
    units = model_cls.throughput_units(hp, settings.decode_batch, settings.decode_src_len, 0)
    result[model_cls.DECODE_THROUGHPUT_KEY] = round(units / seconds, 1)
  if profile:
    result["decode_profile"] = profile_ops(call, calls=2)
  return result


def _ensemble(model, hp, size):
  """`model` and size - 1 more of its class and hparams, decoding as one."""
  if not type(model).DECODES_TO_LENGTH:
    raise UserError(f"--ensemble: model {type(model).registry_name()} does not decode "
                    "tokens step by step; ensembles combine token models")
  models = [model]
  for _ in range(size - 1):
    member = build_model(type(model), hp)
    member.build_from_features(member.dummy_features(hp.get("has_inputs", True)))
    models.append(member)
  return ensemble.Ensemble(models)


def input_speed(problem, hp, data_dir, batches, model_cls):
  """Examples and real units (tokens, audio seconds) per second out of the training input
  pipeline (TFRecords -> batches), and the fraction of padding in its batches."""
  ds = input_pipeline.make_dataset(problem, hp, data_dir, "train", training=True, seed=1)
  it = iter(ds)
  next(it)
  start, examples, real, total = time.perf_counter(), 0, 0.0, 0.0
  for _ in range(batches):
    batch = next(it)
    examples += int(batch["targets"].shape[0])
    r, t = model_cls.batch_units(hp, batch)
    real, total = real + r, total + t
  seconds = time.perf_counter() - start
  return {"input_examples_per_s": round(examples / seconds, 1),
          f"input_{model_cls.THROUGHPUT_UNIT}_per_s": round(real / seconds, 1),
          "padding_fraction": round(1 - real / max(total, 1e-9), 4)}


def measure(model_cls, hp, settings, strategy, problem=None, data_dir=None):
  """Everything t2t-benchmark reports, as one dict (see README)."""
  unit = model_cls.THROUGHPUT_UNIT
  shape = settings.shape()
  result = {"bench": "t2t_benchmark", "model": model_cls.registry_name(),
            "batch": shape.batch, "src_len": shape.src_len, "tgt_len": shape.tgt_len,
            "vocab_size": hp.target_vocab_size, "strategy": settings.strategy,
            "replicas": strategy.num_replicas_in_sync, "precision": precision(hp),
            "host": platform.node(),
            "devices": [d.device_type for d in tf.config.list_logical_devices()]}
  result["peak_gflops"] = matmul_peak_gflops(n=256 if settings.smoke else 2048)
  features = model_cls.benchmark_features(hp, shape)
  bench = TrainBench(model_cls, hp, features, strategy)
  result.update(bench.speed(settings.warmup, settings.steps))
  result["params"] = int(sum(v.shape.num_elements() for v in bench.model.trainable_variables))
  seconds = result["ms_per_step"] / 1e3
  units = model_cls.throughput_units(hp, shape.batch, shape.src_len, shape.tgt_len)
  result[f"{unit}_per_step"] = units
  result[f"{unit}_per_s"] = round(units / seconds, 1)
  flops = model_cls.train_flops(hp, shape)
  if flops:
    gflops = flops / seconds / 1e9
    result["gflop_per_step"] = round(flops / 1e9, 2)
    result["achieved_gflops"] = round(gflops, 1)
    for name in ("fp32", "bf16"):
      result[f"mfu_vs_{name}_peak"] = round(gflops / result["peak_gflops"][name], 4)
    result["mfu"] = result[f"mfu_vs_{result['precision']}_peak"]
  else:
    result["flops_note"] = (f"model {model_cls.registry_name()} declares no train_flops: "
                            "MFU not reported")
  if settings.profile:
    result["profile"] = bench.profile()
  if settings.decode_batch:
    result.update(decode_speed(bench.model, hp, settings, settings.profile))
  else:
    result["decode_note"] = "skipped (--decode_batch=0)"
  if problem is not None and data_dir:
    result.update(input_speed(problem, hp, data_dir, settings.input_batches, model_cls))
    # In real units (tokens, audio seconds): synthetic and real batches differ in shape.
    result["input_speed_over_training"] = round(
        result[f"input_{unit}_per_s"] / result[f"{unit}_per_s"], 1)
  result["peak_memory_mib"] = peak_memory_mib()
  return result
