"""t2t-benchmark: training, decoding and input speed of a registered model + hparams set.

  t2t-benchmark --model=transformer --hparams_set=transformer_base \\
      --batch=32 --src_len=64 --tgt_len=64 --vocab_size=32768
  t2t-benchmark --smoke        # a few steps at tiny shapes (CI)

Prints one JSON line (for scripts) and a short table.
"""
import json
import platform

from absl import flags

from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS

common_flags.define_registry_flags()
flags.DEFINE_string("data_dir", None, "With --problem: also measure the input pipeline here.")
flags.DEFINE_integer("batch", 32, "Examples per synthetic training batch.")
flags.DEFINE_integer("src_len", 64, "Input length of the synthetic batch.")
flags.DEFINE_integer("tgt_len", 64, "Target length of the synthetic batch.")
flags.DEFINE_integer("vocab_size", 32768, "Vocabulary size (ignored with --problem).")
flags.DEFINE_integer("warmup", 3, "Untimed training steps (the first one traces).")
flags.DEFINE_integer("steps", 10, "Timed training steps (the median is reported).")
flags.DEFINE_integer("decode_batch", 32, "Sentences per decoding batch (0: skip decoding).")
flags.DEFINE_integer("decode_src_len", 32, "Source tokens per decoded sentence (EOS included).")
flags.DEFINE_integer("decode_length", 64, "Output tokens per decoded sentence at most (the "
                     "search may end a sentence earlier at EOS; tokens after it not counted).")
flags.DEFINE_integer("beam_size", 4, "Beam size for the decoding measurement.")
flags.DEFINE_float("alpha", 0.6, "Length penalty for the decoding measurement.")
flags.DEFINE_integer("decode_repeats", 3, "Timed decoding batches (the median is reported).")
flags.DEFINE_integer("input_batches", 50, "Batches read to time the input pipeline.")
flags.DEFINE_bool("smoke", False, "Tiny shapes and few steps: checks that it all runs.")


def main(argv):
  from t2t_lite import benchmark, experiment, registry
  experiment.load_registrations(FLAGS.t2t_usr_dir)
  if FLAGS.registry_help:
    common_flags.print_registry_and_exit()
  names = common_flags.parse_gin()
  for name in ("problem", "model", "hparams_set", "data_dir"):  # gin's, unless a flag says
    setattr(FLAGS, name, getattr(names, name))
  if FLAGS.smoke:
    for name, value in dict(model=FLAGS.model or "transformer",
                            hparams_set=FLAGS.hparams_set or "transformer_tiny",
                            batch=4, src_len=8, tgt_len=8, vocab_size=64, warmup=1, steps=2,
                            decode_batch=2, decode_src_len=4, decode_length=10,
                            decode_repeats=1,
                            input_batches=5).items():
      setattr(FLAGS, name, value)
  common_flags.require("model", "hparams_set")
  from t2t_lite.errors import UserError
  for name in ("batch", "src_len", "tgt_len", "steps", "warmup", "decode_repeats",
               "input_batches", "beam_size"):
    if getattr(FLAGS, name) < 1:
      raise UserError(f"--{name} must be at least 1")
  if FLAGS.decode_batch and FLAGS.decode_length < FLAGS.decode_src_len:
    raise UserError("--decode_length must be at least --decode_src_len")
  model_cls = registry.model(FLAGS.model)
  hp = experiment.apply_overrides(registry.hparams(FLAGS.hparams_set), FLAGS.hparams)
  problem = registry.problem(FLAGS.problem) if FLAGS.problem else None
  if problem and FLAGS.data_dir:
    problem.update_hparams(hp, FLAGS.data_dir)
  else:
    hp.input_vocab_size = hp.target_vocab_size = FLAGS.vocab_size
  model_cls.validate_hparams(hp)

  result = {"bench": "t2t_benchmark", "model": FLAGS.model, "hparams_set": FLAGS.hparams_set,
            "hparams": FLAGS.hparams, "batch": FLAGS.batch, "src_len": FLAGS.src_len,
            "tgt_len": FLAGS.tgt_len, "vocab_size": hp.target_vocab_size,
            "host": platform.node()}
  import tensorflow as tf
  result["devices"] = [d.device_type for d in tf.config.list_logical_devices()]
  result["peak_gflops"] = benchmark.matmul_peak_gflops(n=256 if FLAGS.smoke else 2048)
  features = benchmark.synthetic_features(FLAGS.batch, FLAGS.src_len, FLAGS.tgt_len,
                                          hp.target_vocab_size)
  train, model = benchmark.train_speed(model_cls, hp, features, FLAGS.warmup, FLAGS.steps)
  result.update(train)
  result["params"] = int(sum(v.numpy().size for v in model.trainable_variables))
  tokens = FLAGS.batch * FLAGS.tgt_len
  seconds = result["ms_per_step"] / 1e3
  result["target_tokens_per_s"] = round(tokens / seconds, 1)
  if hasattr(benchmark, f"{FLAGS.model}_train_flops"):
    flops = getattr(benchmark, f"{FLAGS.model}_train_flops")(hp, FLAGS.batch, FLAGS.src_len,
                                                              FLAGS.tgt_len)
    result["gflop_per_step"] = round(flops / 1e9, 2)
    result["achieved_gflops"] = round(flops / seconds / 1e9, 1)
    result["mfu_vs_fp32_peak"] = round(flops / seconds / 1e9 / result["peak_gflops"]["fp32"], 4)
    result["mfu_vs_bf16_peak"] = round(flops / seconds / 1e9 / result["peak_gflops"]["bf16"], 4)
  if FLAGS.decode_batch:
    inputs = benchmark.synthetic_sources(FLAGS.decode_batch, FLAGS.decode_src_len,
                                         hp.target_vocab_size)
    result.update(benchmark.decode_speed(model, inputs, FLAGS.beam_size, FLAGS.alpha,
                                         FLAGS.decode_length, FLAGS.decode_repeats))
  if problem and FLAGS.data_dir:
    result.update(benchmark.input_speed(problem, hp, FLAGS.data_dir, FLAGS.input_batches))
    # In target tokens: the synthetic training batch and real batches differ in shape.
    result["input_speed_over_training"] = round(
        result["input_target_tokens_per_s"] / result["target_tokens_per_s"], 1)
  result["peak_memory_mib"] = benchmark.peak_memory_mib()
  print(json.dumps(result), flush=True)
  rows = [("train ms/step (median)", result["ms_per_step"]),
          ("target tokens/s", result["target_tokens_per_s"]),
          ("GFLOP/s (MFU fp32 / bf16)", f"{result.get('achieved_gflops')} "
           f"({result.get('mfu_vs_fp32_peak')} / {result.get('mfu_vs_bf16_peak')})"),
          ("decode output tokens/s", result.get("decode_output_tokens_per_s")),
          ("input examples/s (x training)", f"{result.get('input_examples_per_s')} "
           f"(x{result.get('input_speed_over_training')})"),
          ("peak memory MiB", result["peak_memory_mib"])]
  for name, value in rows:
    print(f"  {name:32s} {value}")


def run():
  common_flags.run_main(main, "t2t-benchmark")


if __name__ == "__main__":
  run()
