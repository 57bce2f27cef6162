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
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from t2t_lite import memory, options, search
from t2t_lite.capabilities import BenchmarkShape, Streaming, benchmark_shapes
from t2t_lite.data import input_pipeline, text_encoder
from t2t_lite.data.text_encoder import EOS_ID
from t2t_lite.decoding import ensemble
from t2t_lite.errors import UserError
from t2t_lite.options import setting
from t2t_lite.search import Search
from t2t_lite.serving import ctranslate2_export, export
from t2t_lite.training import learning_rate, optimizers, strategies
from t2t_lite.training.train_step import TrainStep, mean_per_token
from t2t_lite.training.trainer import build_model

# The hparam that selects reduced-precision compute (mixed precision), and its values that
# make the bfloat16 matmul peak the MFU denominator.
PRECISION_HPARAM = "activation_dtype"
BF16_VALUES = ("bfloat16", "mixed_bfloat16")
SHAPE_SETTINGS = ("batch", "src_len", "tgt_len", "vocab_size", "decode_src_len")


@options.group("Benchmark")
class BenchmarkOptions(search.SearchSettings):
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
  decode_repeats: int = setting(3, "Timed decoding batches (the median is reported).",
                                minimum=1)
  ensemble: int = setting(1, "Decode with an ensemble of this many models of these hparams "
                          "(each with its own random weights), as t2t-decoder --ensemble "
                          "does.", minimum=1)
  input_batches: int = setting(50, "Batches read to time the input pipeline.", minimum=1)
  stream_chunk_frames: int = setting(17, "Streaming models: time the streaming step on "
                                     "chunks of this many input frames (17: 170 ms of "
                                     "10 ms frames; 0: skip).", minimum=0)
  strategy: str = setting("default", "tf.distribute strategy of the training step (as "
                          "t2t-trainer's).", choices=strategies.LOCAL_STRATEGIES)
  worker_gpu: int = setting(0, "Replicas for --strategy=mirrored (0: all GPUs; on CPU, "
                            "that many logical devices).", minimum=0)
  profile: bool = setting(False, "Also trace 3 training steps and 2 decoded batches with "
                          "tf.profiler and report the ms per step (per batch) of the top op "
                          "types.")
  decode_engine: str = setting("tf", "What decodes: 'tf' (the model's predict, as "
                               "t2t-decoder) or 'ctranslate2' (the model exported with "
                               "t2t-exporter --export_format=ctranslate2, run by "
                               "ctranslate2.Translator).", choices=("tf", "ctranslate2"))
  quantization: str = setting("none", "--decode_engine=ctranslate2: the export's weights "
                              "(none = float32, int8, float16, ...; as t2t-exporter's).",
                              choices=ctranslate2_export.QUANTIZATIONS)
  decode_only: bool = setting(False, "Measure decoding only: no training step (the "
                              "model decodes with its initial weights).")
  export_sizes: bool = setting(False, "Also export the model as SavedModels (float32, "
                               "bfloat16, float16) and CTranslate2 models (float32, int8, "
                               "float16) and report each one's size on disk.")
  smoke: bool = setting(False, "Tiny shapes and few steps: checks that it all runs.")
  kernels: str = setting("", "Time a kernel suite instead of a model: 'deepbench' (Baidu "
                         "DeepBench's GEMM, convolution and RNN shapes, through the "
                         "framework's layers).", choices=("", "deepbench"))
  kernel_sets: str = setting("training,inference_server,inference_device",
                             "DeepBench's sets to take shapes from (comma-separated).")
  kernel_types: str = setting("gemm,conv,rnn", "Kernel kinds to time (comma-separated).")
  kernel_dtypes: str = setting("auto", "fp32, bf16, both, or auto: fp32, and bf16 too when "
                               "the measured bf16 matmul peak is 1.15x fp32's or more.",
                               choices=("auto", "fp32", "bf16", "both"))
  kernel_budget_s: float = setting(300.0, "Seconds for the kernels (the matmul peak, "
                                   "measured before and after, comes on top): shapes whose "
                                   "estimated time does not fit are skipped (and listed).",
                                   above=0)
  kernel_memory_mib: int = setting(0, "Skip shapes that need more memory than this (0: half "
                                   "of the memory available at start).", minimum=0)
  kernel_list: str | None = setting(None, "A JSON file of kernels to time, every one and "
                                    "without a budget: an earlier --kernels run's JSON line "
                                    "(its 'kernels'), or a list of such entries.")

  def __post_init__(self):
    super().__post_init__()
    strategies.check_settings(self.strategy, self.worker_gpu)

  def with_model_defaults(self, model_cls, explicit=()):
    """Unset shapes from the model; --smoke's tiny shapes and few steps, except for the
    settings named in `explicit` (given on the command line)."""
    changes = {}
    shape = benchmark_shapes(model_cls).benchmark_shape(smoke=self.smoke)
    for name in SHAPE_SETTINGS:
      if getattr(self, name) is None:
        changes[name] = getattr(shape, name)
    if self.smoke:
      smoke = dict(warmup=1, steps=2, decode_batch=2, decode_length=10, decode_repeats=1,
                   input_batches=5)
      changes.update({k: v for k, v in smoke.items() if k not in explicit})
    return self.replace(**changes)

  def kernel_names(self, field, known):
    """The comma-separated names of `field`, each checked against `known`."""
    names = [n.strip() for n in getattr(self, field).split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
      raise UserError(f"--{field}={getattr(self, field)!r}: use some of {', '.join(known)}")
    return names

  def shape(self):
    return BenchmarkShape(self.batch, self.src_len, self.tgt_len, self.vocab_size,
                          self.decode_src_len)

  def check(self, model_cls, replicas):
    to_length = benchmark_shapes(model_cls).DECODES_TO_LENGTH
    if self.decode_engine == "ctranslate2" and not to_length:
      raise UserError(f"--decode_engine=ctranslate2: model {model_cls.registry_name()} "
                      "does not decode tokens; CTranslate2 runs token models")
    if self.quantization != "none" and self.decode_engine != "ctranslate2":
      raise UserError("--quantization is for --decode_engine=ctranslate2")
    if self.ensemble > 1 and self.decode_engine == "ctranslate2":
      raise UserError("--ensemble times t2t_lite's ensemble search; CTranslate2 decodes one "
                      "model: use --decode_engine=tf")
    if self.decode_only and not self.decode_batch:
      raise UserError("--decode_only with --decode_batch=0 measures nothing")
    if self.batch % replicas:
      raise UserError(f"--batch={self.batch} must be divisible by the {replicas} replicas "
                      f"of --strategy={self.strategy}")
    if self.decode_batch and to_length and (
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
    self.features = features
    self.rss_before_model = memory.rss_bytes()
    with strategy.scope():
      self.model = build_model(model_cls, hp)
      self.model.build_from_features(
          self.model.dummy_features(hp.has_inputs))
      optimizer = optimizers.make_optimizer(hp, learning_rate.FactorSchedule(hp, 10 ** 6))
      optimizer.build(self.model.trainable_variables)
      global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.optimizer = optimizer
    self.step = TrainStep(strategy, self.model, optimizer, hp, global_step,
                          max_nonfinite_steps=10 ** 9)
    self.iterator = iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(features).repeat()))
    self.one = tf.constant(1)

  def run_step(self):
    return mean_per_token(*self.step.run(self.iterator, self.one))

  def speed(self, warmup, steps):
    """Median ms per step of `steps` timed steps after `warmup` (the first one traces)."""
    start = time.perf_counter()
    self.run_step()
    first_s = time.perf_counter() - start
    for _ in range(max(0, warmup - 1)):
      self.run_step()
    allocated_before = memory.allocated_bytes()
    memory.reset_peak()
    times = []
    for _ in range(steps):
      start = time.perf_counter()
      loss = self.run_step()
      times.append(time.perf_counter() - start)
    allocated = memory.allocated_bytes()
    # What the steps allocated at their fullest beyond what was there before them.
    self.step_peak = (None if allocated is None or allocated_before is None
                      else allocated[1] - allocated_before[0])
    self.peak_rss = memory.peak_rss_bytes()
    return {"ms_per_step": _median_ms(times), "ms_per_step_min": round(1e3 * min(times), 2),
            "first_step_s": round(first_s, 2), "final_loss": round(loss, 4),
            "traces": self.step.run.experimental_get_tracing_count()}

  def memory(self):
    """Needed against used memory of training, per parameter (memory.py); after speed()."""
    activations = None
    if self.strategy.num_replicas_in_sync == 1:  # one replica's forward pass, eagerly
      with self.strategy.scope():
        activations = memory.activation_bytes(self.model, self.features)
    return memory.report(
        params=int(sum(v.shape.num_elements() for v in self.model.trainable_variables)),
        weights=memory.variables_bytes(self.model.trainable_variables),
        optimizer_state=memory.variables_bytes(self.optimizer.variables),
        activations=activations, step_peak=self.step_peak,
        rss_before=self.rss_before_model, peak_rss=self.peak_rss)

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
  shapes = benchmark_shapes(type(model))
  features = shapes.benchmark_decode_features(hp, settings.decode_batch,
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
  tokens = _output_tokens(out, stops_at_eos=shapes.DECODES_TO_LENGTH)
  result = {"decode": shapes.describe_search(search) + (
      f", ensemble of {settings.ensemble}" if settings.ensemble > 1 else ""),
            "decode_ms_per_batch": _median_ms(times), "decode_output_tokens": tokens,
            "decode_output_tokens_per_s": round(tokens / seconds, 1)}
  if shapes.DECODE_THROUGHPUT_KEY:
    units = shapes.throughput_units(hp, settings.decode_batch, settings.decode_src_len, 0)
    result[shapes.DECODE_THROUGHPUT_KEY] = round(units / seconds, 1)
  if profile:
    result["decode_profile"] = profile_ops(call, calls=2)
  return result


def _ensemble(model, hp, size):
  """`model` and size - 1 more of its class and hparams, decoding as one."""
  if not benchmark_shapes(type(model)).DECODES_TO_LENGTH:
    raise UserError(f"--ensemble: model {type(model).registry_name()} does not decode "
                    "tokens step by step; ensembles combine token models")
  models = [model]
  for _ in range(size - 1):
    member = build_model(type(model), hp)
    member.build_from_features(member.dummy_features(hp.get("has_inputs", True)))
    models.append(member)
  return ensemble.Ensemble(models)


def stream_latency(model, hp, chunk_frames, repeats=20):
  """Median and worst ms of the model's streaming step on one stream's chunks of
  `chunk_frames` input frames (the state carried from chunk to chunk)."""
  # The state's time axes change length from chunk to chunk: one trace with them open.
  step = tf.function(lambda x, state: model.stream(x, state, tf.constant(False)),
                     reduce_retracing=True)
  state, times, warmup = model.initial_stream_state(1), [], 3
  features = benchmark_shapes(type(model)).benchmark_decode_features(
      hp, 1, chunk_frames * (repeats + warmup))
  for i in range(repeats + warmup):
    start = time.perf_counter()
    logits, state = step(features["inputs"][:, i * chunk_frames:(i + 1) * chunk_frames],
                         state)
    logits.numpy()
    if i >= warmup:  # the first calls trace
      times.append(time.perf_counter() - start)
  return {"stream_chunk_frames": chunk_frames, "stream_ms_per_chunk": _median_ms(times),
          "stream_ms_per_chunk_max": round(1e3 * max(times), 2)}


def synthetic_encoder(vocab_size):
  """A token vocabulary of vocab_size ids for synthetic models (t0, t1, ... past the
  reserved ids): what the CTranslate2 export and the SavedModels tokenize with."""
  return text_encoder.TokenTextEncoder(tokens=text_encoder.RESERVED_TOKENS + [
      f"t{i}" for i in range(text_encoder.NUM_RESERVED_TOKENS, vocab_size)])


def _encoders(hp):
  encoder = synthetic_encoder(hp.target_vocab_size)
  return {"inputs": encoder, "targets": encoder} if hp.has_inputs else {"targets": encoder}


def _ctranslate2_export(model, hp, export_dir, quantization, num_positions):
  return ctranslate2_export.export(model, _encoders(hp), export_dir, quantization,
                                   num_positions, log=lambda *_: None)


def ctranslate2_decode_speed(model, hp, settings):
  """decode_speed's measurement for the model exported to CTranslate2 (--quantization)
  and decoded by ctranslate2.Translator (Generator for a language model) on the same
  inputs and search: beam_size, length penalty alpha (CTranslate2's length ** alpha),
  at most decode_length output tokens, EOS counted."""
  import ctranslate2  # the optional [serve] dependency

  tmp = tempfile.mkdtemp(prefix="t2t_benchmark_ct2_")
  try:
    path = _ctranslate2_export(model, hp, os.path.join(tmp, "model"), settings.quantization,
                               max(settings.decode_src_len, settings.decode_length) + 1)
    size = ctranslate2_export.directory_bytes(path)
    tokens = synthetic_encoder(hp.target_vocab_size)._tokens  # pylint: disable=protected-access
    ids = benchmark_shapes(type(model)).benchmark_decode_features(
        hp, settings.decode_batch, settings.decode_src_len)["inputs"].numpy()
    threads = len(os.sched_getaffinity(0))
    search = dict(beam_size=settings.beam_size, length_penalty=settings.alpha,
                  max_batch_size=settings.decode_batch)
    if hp.has_inputs:
      runner = ctranslate2.Translator(path, device="cpu", intra_threads=threads)
      sources = [[tokens[i] for i in row[:-1]] for row in ids]  # the model adds EOS
      call = lambda: runner.translate_batch(  # noqa: E731
          sources, max_decoding_length=settings.decode_length, return_end_token=True,
          **search)
    else:
      runner = ctranslate2.Generator(path, device="cpu", intra_threads=threads)
      prompts = [[text_encoder.PAD] + [tokens[i] for i in row] for row in ids]
      call = lambda: runner.generate_batch(  # noqa: E731
          prompts, max_length=settings.decode_length, include_prompt_in_result=False,
          end_token=text_encoder.EOS, **search)
    times, out = _timed(call, settings.decode_repeats)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  produced = sum(len(r.sequences[0] if hasattr(r, "sequences") else r.hypotheses[0])
                 for r in out)
  weights = "float32" if settings.quantization == "none" else settings.quantization
  return {"decode": f"ctranslate2 {ctranslate2.__version__} ({weights} weights), beam "
          f"search, beam {settings.beam_size}", "decode_engine": "ctranslate2",
          "decode_quantization": settings.quantization,
          "decode_ms_per_batch": _median_ms(times), "decode_output_tokens": produced,
          "decode_output_tokens_per_s": round(produced / statistics.median(times), 1),
          "decode_export_mib": round(size / 2 ** 20, 2), "decode_threads": threads}


def export_sizes(model, hp, settings):
  """MiB on disk of each export of the model: SavedModels (the ids signature over the
  model's predict, float32 / bfloat16 / float16 weights) and CTranslate2 models (float32,
  int8, float16 weights)."""
  tmp = tempfile.mkdtemp(prefix="t2t_benchmark_exports_")
  sizes = {}
  search = Search(beam_size=settings.beam_size, alpha=settings.alpha)
  try:
    for dtype in export.EXPORT_DTYPES:
      path = os.path.join(tmp, f"savedmodel_{dtype}")
      module = export.PredictServing(export.with_dtype(model, dtype, hp.has_inputs), hp,
                                     search)
      export.export(module, path)
      sizes[f"savedmodel_{dtype}"] = ctranslate2_export.directory_bytes(path)
    for quantization in ("none", "int8", "float16"):
      try:
        path = _ctranslate2_export(model, hp, os.path.join(tmp, f"ct2_{quantization}"),
                                   quantization, 1024)
      except UserError:  # a model CTranslate2 cannot run, or ctranslate2 not installed
        break
      name = "float32" if quantization == "none" else quantization
      sizes[f"ctranslate2_{name}"] = ctranslate2_export.directory_bytes(path)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return {k: round(v / 2 ** 20, 2) for k, v in sizes.items()}


def input_speed(problem, hp, data_dir, batches, model_cls):
  """Examples and real units (tokens, audio seconds) per second out of the training input
  pipeline (TFRecords -> batches), and the fraction of padding in its batches."""
  shapes = benchmark_shapes(model_cls)
  ds = input_pipeline.make_dataset(problem, hp, data_dir, "train", training=True, seed=1)
  it = iter(ds)
  next(it)
  start, examples, real, total = time.perf_counter(), 0, 0.0, 0.0
  for _ in range(batches):
    batch = next(it)
    examples += int(batch["targets"].shape[0])
    r, t = shapes.batch_units(hp, batch)
    real, total = real + r, total + t
  seconds = time.perf_counter() - start
  return {"input_examples_per_s": round(examples / seconds, 1),
          f"input_{shapes.THROUGHPUT_UNIT}_per_s": round(real / seconds, 1),
          "padding_fraction": round(1 - real / max(total, 1e-9), 4)}


def measure(model_cls, hp, settings, strategy, problem=None, data_dir=None):
  """Everything t2t-benchmark reports, as one dict (see README)."""
  shapes = benchmark_shapes(model_cls)
  unit = shapes.THROUGHPUT_UNIT
  shape = settings.shape()
  result = {"bench": "t2t_benchmark", "model": model_cls.registry_name(),
            "batch": shape.batch, "src_len": shape.src_len, "tgt_len": shape.tgt_len,
            "vocab_size": hp.target_vocab_size, "strategy": settings.strategy,
            "replicas": strategy.num_replicas_in_sync, "precision": precision(hp),
            "host": platform.node(),
            "devices": [d.device_type for d in tf.config.list_logical_devices()]}
  features = shapes.benchmark_features(hp, shape)
  bench = TrainBench(model_cls, hp, features, strategy)
  result["params"] = int(sum(v.shape.num_elements() for v in bench.model.trainable_variables))
  if not settings.decode_only:
    _measure_training(result, bench, model_cls, hp, settings)
  if settings.decode_batch:
    if settings.decode_engine == "ctranslate2":
      result.update(ctranslate2_decode_speed(bench.model, hp, settings))
    else:
      result.update(decode_speed(bench.model, hp, settings, settings.profile))
  else:
    result["decode_note"] = "skipped (--decode_batch=0)"
  if settings.export_sizes:
    result["export_mib"] = export_sizes(bench.model, hp, settings)
  if (settings.stream_chunk_frames and issubclass(model_cls, Streaming)
      and model_cls.streams(hp)):
    result.update(stream_latency(bench.model, hp, settings.stream_chunk_frames))
  if problem is not None and data_dir and not settings.decode_only:
    result.update(input_speed(problem, hp, data_dir, settings.input_batches, model_cls))
    # In real units (tokens, audio seconds): synthetic and real batches differ in shape.
    result["input_speed_over_training"] = round(
        result[f"input_{unit}_per_s"] / result[f"{unit}_per_s"], 1)
  result["peak_memory_mib"] = peak_memory_mib()
  return result


def _measure_training(result, bench, model_cls, hp, settings):
  """Training speed, FLOPs and MFU (and the training profile) into result."""
  shapes = benchmark_shapes(model_cls)
  unit, shape = shapes.THROUGHPUT_UNIT, settings.shape()
  result.update(bench.speed(settings.warmup, settings.steps))
  result["memory"] = bench.memory()
  # After training's memory is measured: the 2048 x 2048 matmuls leave ~200 MB of freed
  # buffers in the process (malloc keeps them), which counted as training's before.
  result["peak_gflops"] = matmul_peak_gflops(n=256 if settings.smoke else 2048)
  seconds = result["ms_per_step"] / 1e3
  units = shapes.throughput_units(hp, shape.batch, shape.src_len, shape.tgt_len)
  result[f"{unit}_per_step"] = units
  result[f"{unit}_per_s"] = round(units / seconds, 1)
  flops = shapes.train_flops(hp, shape)
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
