"""t2t-benchmark: training, decoding and input speed of a registered model + hparams set.

  t2t-benchmark --model=transformer --hparams_set=transformer_base \\
      --batch=32 --src_len=64 --tgt_len=64 --vocab_size=32768
  t2t-benchmark --model=deep_speech2 --hparams_set=deep_speech2_base   # 16 x 400 frames
  t2t-benchmark --smoke        # a few steps at tiny shapes (CI)

Prints one JSON line (for scripts) and a short table.
"""
import json
import platform

from absl import flags

from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS

common_flags.define_registry_flags()
common_flags.define_problem_flags()
flags.DEFINE_string("data_dir", None, "With --problem: also measure the input pipeline here.")
flags.DEFINE_integer("batch", None, "Examples per synthetic training batch (global, split "
                     "over the replicas). Default: the model family's (32 text, 16 speech).")
flags.DEFINE_integer("src_len", None, "Input length of the synthetic batch: tokens, or "
                     "feature frames for speech. Default: 64 text, 400 speech.")
flags.DEFINE_integer("tgt_len", None, "Target tokens of the synthetic batch. Default: 64 "
                     "text, 40 speech.")
flags.DEFINE_integer("vocab_size", None, "Target vocabulary size (ignored with --problem "
                     "--data_dir). Default: 32768 text, 30 speech characters.")
flags.DEFINE_integer("warmup", 3, "Untimed training steps (the first one traces).")
flags.DEFINE_integer("steps", 10, "Timed training steps (the median is reported).")
flags.DEFINE_integer("decode_batch", 32, "Sentences per decoding batch (0: skip decoding).")
flags.DEFINE_integer("decode_src_len", None, "Source tokens (EOS included), or feature "
                     "frames for speech, per decoded example. Default: 32 text, 400 speech.")
flags.DEFINE_integer("decode_length", 64, "Output tokens per decoded sentence at most (the "
                     "search may end a sentence earlier at EOS; tokens after it not counted).")
flags.DEFINE_integer("beam_size", 4, "Beam size for the decoding measurement (speech: CTC "
                     "prefix beam search; 1: greedy).")
flags.DEFINE_float("alpha", 0.6, "Length penalty for the decoding measurement.")
flags.DEFINE_integer("decode_repeats", 3, "Timed decoding batches (the median is reported).")
flags.DEFINE_integer("input_batches", 50, "Batches read to time the input pipeline.")
flags.DEFINE_enum("strategy", "default", ["default", "one_device", "mirrored"],
                  "tf.distribute strategy of the training step (as t2t-trainer's).")
flags.DEFINE_integer("worker_gpu", 0, "Replicas for --strategy=mirrored (0: all GPUs; on "
                     "CPU, that many logical devices).")
flags.DEFINE_bool("profile", False, "Also trace 3 training steps and 2 decoded batches with "
                  "tf.profiler and report the ms per step (per batch) of the top op types.")
flags.DEFINE_bool("smoke", False, "Tiny shapes and few steps: checks that it all runs.")

SHAPE_FLAGS = ("batch", "src_len", "tgt_len", "vocab_size", "decode_src_len")


def _apply_smoke_settings(adapter):
  """The adapter's tiny shapes and a few steps, unless a flag says otherwise."""
  for name, value in adapter.smoke_shape.items():
    if getattr(FLAGS, name) is None:
      setattr(FLAGS, name, value)
  for name, value in dict(warmup=1, steps=2, decode_batch=2, decode_length=10,
                          decode_repeats=1, input_batches=5).items():
    if not FLAGS[name].present:
      setattr(FLAGS, name, value)


def _check_flags(adapter, replicas):
  from t2t_lite.errors import UserError
  for name in SHAPE_FLAGS + ("steps", "warmup", "decode_repeats", "input_batches",
                             "beam_size"):
    if getattr(FLAGS, name) < 1:
      raise UserError(f"--{name} must be at least 1")
  if FLAGS.batch % replicas:
    raise UserError(f"--batch={FLAGS.batch} must be divisible by the {replicas} replicas "
                    f"of --strategy={FLAGS.strategy}")
  if FLAGS.decode_batch and adapter.decodes_to_length and (
      FLAGS.decode_length < FLAGS.decode_src_len):
    raise UserError("--decode_length must be at least --decode_src_len")


def _table(result, adapter):
  unit = adapter.unit.replace("_", " ")
  mfu = result.get("mfu")
  rows = [("train ms/step (median)", result["ms_per_step"]),
          (f"{unit}/s", result[f"{adapter.unit}_per_s"]),
          (f"GFLOP/s (MFU vs {result['precision']} peak)",
           f"{result.get('achieved_gflops')} ({mfu:.1%})" if mfu is not None
           else result.get("flops_note")),
          ("decode output tokens/s", result.get("decode_output_tokens_per_s",
                                                result.get("decode_note"))),
          ("input examples/s (x training)",
           f"{result['input_examples_per_s']} (x{result['input_speed_over_training']}, "
           f"padding {result['padding_fraction']:.1%})" if "input_examples_per_s" in result
           else "not measured (needs --problem and --data_dir)"),
          ("peak memory MiB", result["peak_memory_mib"])]
  for name, value in rows:
    print(f"  {name:32s} {value}")
  for key, what in (("profile", "training step"), ("decode_profile", "decoded batch")):
    if key in result:
      print(f"  top op types, ms per {what}:")
      for op, ms in result[key]["top_ops_ms_per_call"].items():
        print(f"    {op:30s} {ms}")


def main(argv):
  from t2t_lite import benchmark_adapters, experiment, registry
  from t2t_lite.training import strategies
  experiment.load_registrations(FLAGS.t2t_usr_dir)
  if FLAGS.registry_help:
    common_flags.print_registry_and_exit()
  names = common_flags.parse_gin()
  for name in ("problem", "model", "hparams_set", "data_dir"):  # gin's, unless a flag says
    setattr(FLAGS, name, getattr(names, name))
  if FLAGS.smoke and not FLAGS.model:
    FLAGS.model, FLAGS.hparams_set = "transformer", FLAGS.hparams_set or "transformer_tiny"
  common_flags.require("model", "hparams_set")
  model_cls = registry.model(FLAGS.model)
  adapter = benchmark_adapters.adapter_for(model_cls)
  if FLAGS.smoke:
    _apply_smoke_settings(adapter)
  for name in SHAPE_FLAGS:
    if getattr(FLAGS, name) is None:
      setattr(FLAGS, name, adapter.defaults[name])
  # Before anything initializes TensorFlow's devices (mirrored on CPU splits the CPU).
  strategy = strategies.make_strategy(FLAGS.strategy, FLAGS.worker_gpu)
  _check_flags(adapter, strategy.num_replicas_in_sync)
  hp = experiment.apply_overrides(registry.hparams(FLAGS.hparams_set), FLAGS.hparams)
  problem = registry.problem(FLAGS.problem) if FLAGS.problem else None
  if problem and FLAGS.data_dir:
    common_flags.configure_problem(problem, FLAGS.data_dir)
    problem.update_hparams(hp, FLAGS.data_dir)
  else:
    adapter.set_vocab(hp, FLAGS.vocab_size)
  model_cls.validate_hparams(hp)

  from t2t_lite import benchmark
  import tensorflow as tf
  result = {"bench": "t2t_benchmark", "model": FLAGS.model, "hparams_set": FLAGS.hparams_set,
            "hparams": FLAGS.hparams, "batch": FLAGS.batch, "src_len": FLAGS.src_len,
            "tgt_len": FLAGS.tgt_len, "vocab_size": hp.target_vocab_size,
            "strategy": FLAGS.strategy, "replicas": strategy.num_replicas_in_sync,
            "precision": benchmark.precision(hp), "host": platform.node(),
            "devices": [d.device_type for d in tf.config.list_logical_devices()]}
  result["peak_gflops"] = benchmark.matmul_peak_gflops(n=256 if FLAGS.smoke else 2048)
  features = adapter.synthetic_features(hp, FLAGS.batch, FLAGS.src_len, FLAGS.tgt_len)
  bench = benchmark.TrainBench(model_cls, hp, features, strategy)
  result.update(bench.speed(FLAGS.warmup, FLAGS.steps))
  model = bench.model
  result["params"] = int(sum(v.shape.num_elements() for v in model.trainable_variables))
  seconds = result["ms_per_step"] / 1e3
  units = adapter.units_per_step(hp, FLAGS.batch, FLAGS.src_len, FLAGS.tgt_len)
  result[f"{adapter.unit}_per_step"] = units
  result[f"{adapter.unit}_per_s"] = round(units / seconds, 1)
  flops = adapter.train_flops(hp, FLAGS.batch, FLAGS.src_len, FLAGS.tgt_len)
  if flops:
    gflops = flops / seconds / 1e9
    result["gflop_per_step"] = round(flops / 1e9, 2)
    result["achieved_gflops"] = round(gflops, 1)
    for name in ("fp32", "bf16"):
      result[f"mfu_vs_{name}_peak"] = round(gflops / result["peak_gflops"][name], 4)
    result["mfu"] = result[f"mfu_vs_{result['precision']}_peak"]
  else:
    result["flops_note"] = f"no FLOP formula for model {FLAGS.model}: MFU not reported"
  if FLAGS.profile:
    result["profile"] = bench.profile()
  if FLAGS.decode_batch:
    result.update(adapter.decode_speed(model, hp, FLAGS.decode_batch, FLAGS.decode_src_len,
                                       FLAGS.decode_length, FLAGS.beam_size, FLAGS.alpha,
                                       FLAGS.decode_repeats, FLAGS.profile))
  else:
    result["decode_note"] = "skipped (--decode_batch=0)"
  if problem and FLAGS.data_dir:
    result.update(benchmark.input_speed(problem, hp, FLAGS.data_dir, FLAGS.input_batches,
                                        adapter))
    # In real units (tokens, audio seconds): synthetic and real batches differ in shape.
    result["input_speed_over_training"] = round(
        result[f"input_{adapter.unit}_per_s"] / result[f"{adapter.unit}_per_s"], 1)
  result["peak_memory_mib"] = benchmark.peak_memory_mib()
  print(json.dumps(result), flush=True)
  _table(result, adapter)


def run():
  common_flags.run_main(main, "t2t-benchmark")


if __name__ == "__main__":
  run()
