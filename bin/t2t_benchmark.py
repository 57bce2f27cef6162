"""t2t-benchmark: training, decoding and input speed of a registered model + hparams set.

  t2t-benchmark --model=transformer --hparams_set=transformer_base \\
      --batch=32 --src_len=64 --tgt_len=64 --vocab_size=32768
  t2t-benchmark --model=deep_speech2 --hparams_set=deep_speech2_base   # 16 x 400 frames
  t2t-benchmark --smoke        # a few steps at tiny shapes (CI)
  t2t-benchmark --model=transformer --hparams_set=transformer_small --vocab_size=16384 \\
      --decode_only --decode_engine=ctranslate2 --quantization=int8   # CTranslate2 decoding

Prints one JSON line (for scripts) and a short table. What it measures of a model (its
synthetic batch, FLOP formula, throughput unit) the model declares (t2t_model.py).
"""
import dataclasses
import json
import os
import platform
import sys

from t2t_lite import benchmark, experiment, machine, registry
from t2t_lite.benchmark import BenchmarkOptions
from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS, RegistryOptions
from t2t_lite.capabilities import benchmark_shapes
from t2t_lite.data.manifest import DataCheckOptions
from t2t_lite.errors import UserError
from t2t_lite.experiment import ExperimentOptions
from t2t_lite.kernels import suite
from t2t_lite.training import strategies

common_flags.define_flags(ExperimentOptions, RegistryOptions, BenchmarkOptions,
                          machine.ThreadOptions, DataCheckOptions)
common_flags.define_gin_flags()

# --smoke without a model measures this one.
SMOKE_MODEL = ("transformer", "transformer_tiny")


def _table(result, unit):
  label = unit.replace("_", " ")
  mfu = result.get("mfu")
  rows = []
  if "ms_per_step" in result:  # not with --decode_only
    rows += [("train ms/step (median)", result["ms_per_step"]),
             (f"{label}/s", result[f"{unit}_per_s"]),
             (f"GFLOP/s (MFU vs {result['precision']} peak)",
              f"{result.get('achieved_gflops')} ({mfu:.1%})" if mfu is not None
              else result.get("flops_note"))]
  if "decode_ms_per_batch" in result:
    rows.append(("decode", result["decode"]))
    rows.append(("decode ms/batch (median)", result["decode_ms_per_batch"]))
  rows += [("decode output tokens/s", result.get("decode_output_tokens_per_s",
                                                 result.get("decode_note"))),
          ("input examples/s (x training)",
           f"{result['input_examples_per_s']} (x{result['input_speed_over_training']}, "
           f"padding {result['padding_fraction']:.1%})" if "input_examples_per_s" in result
           else "not measured (needs --problem and --data_dir)"),
          ("peak memory MiB", result["peak_memory_mib"])]
  if "stream_ms_per_chunk" in result:
    rows.append((f"stream ms/chunk of {result['stream_chunk_frames']} frames",
                 f"{result['stream_ms_per_chunk']} (max {result['stream_ms_per_chunk_max']})"))
  for name, mib in result.get("export_mib", {}).items():
    rows.append((f"export size {name}", f"{mib} MiB"))
  m = result.get("memory", {})
  if m.get("needed_bytes_per_param") is not None:
    rows.append(("training bytes/param: needed", f"{m['needed_bytes_per_param']} (weights "
                 f"{m['weights_mib']} + optimizer {m['optimizer_state_mib']} + gradients "
                 f"{m['gradients_mib']} + activations {m['activations_mib']} MiB)"))
  if m.get("step_allocated_bytes_per_param") is not None:
    rows.append(("  used by the step / peak RSS", f"{m['step_allocated_bytes_per_param']} / "
                 f"{m['rss_bytes_per_param']} (RSS above the {m['rss_before_model_mib']} "
                 "MiB before the model)"))
  for name, value in rows:
    print(f"  {name:32s} {value}")
  for key, what in (("profile", "training step"), ("decode_profile", "decoded batch")):
    if key in result:
      print(f"  top op types, ms per {what}:")
      for op, ms in result[key]["top_ops_ms_per_call"].items():
        print(f"    {op:30s} {ms}")


def configuration():
  """(ExperimentOptions, BenchmarkOptions, DataCheckOptions) from the flags and gin."""
  names = common_flags.load_registrations_and_gin(BenchmarkOptions, DataCheckOptions,
                                                  machine.ThreadOptions)
  return names, BenchmarkOptions.from_config(), DataCheckOptions.from_config()


def main(argv):
  names, settings, data_check = configuration()
  if settings.kernels:
    return _kernel_suite(names, settings)
  hparams_overrides = FLAGS.hparams
  # Given on the command line or in gin (flags are bound in gin): the model's own
  # defaults replace only the others.
  explicit = set(BenchmarkOptions.gin_bindings())
  model_name, hparams_set = names.model, names.hparams_set
  if settings.smoke and not model_name:
    model_name, hparams_set = SMOKE_MODEL[0], hparams_set or SMOKE_MODEL[1]
  names = names.replace(model=model_name, hparams_set=hparams_set)
  common_flags.require(names, "model", "hparams_set")
  model_cls = registry.model(names.model)
  settings = settings.with_model_defaults(model_cls, explicit)
  # Before anything initializes TensorFlow's devices (mirrored on CPU splits the CPU).
  threads = common_flags.configure_threads()  # in the JSON (threads)
  strategy = strategies.make_strategy(settings.strategy, settings.worker_gpu)
  settings.check(model_cls, strategy.num_replicas_in_sync)
  requested = experiment.apply_overrides(registry.hparams(names.hparams_set), hparams_overrides)
  problem = registry.problem(names.problem) if names.problem else None
  data_dir = os.path.expanduser(names.data_dir) if names.data_dir else None  # ~/t2t_data
  if problem and data_dir:
    common_flags.configure_problem(problem, data_dir, names)
    # Before the first step, not when the input is timed after training.
    problem.check_data(data_dir, ["train"], verify=data_check.verify_data,
                       log=lambda line: print(line, file=sys.stderr))  # stdout: the JSON
  hp = experiment.final_hparams(problem if data_dir else None, model_cls, requested,
                                data_dir, log=common_flags.log_to_stderr,
                                vocab_size=settings.vocab_size)
  result = benchmark.measure(model_cls, hp, settings, strategy, problem, data_dir)
  result.update(hparams_set=names.hparams_set, hparams=hparams_overrides,
                activation_dtype=hp.activation_dtype, threads=dataclasses.asdict(threads))
  print(json.dumps(result), flush=True)
  _table(result, benchmark_shapes(model_cls).THROUGHPUT_UNIT)


def _kernel_suite(names, settings):
  """--kernels=deepbench: the kernel suite instead of a model (t2t_lite/kernels/suite.py)."""
  if names.model:
    raise UserError(f"--kernels={settings.kernels} times kernels, not a model: drop --model "
                    "(or measure the model in its own t2t-benchmark run)")
  threads = common_flags.configure_threads()  # in the JSON (threads)
  result = suite.measure(settings, log=common_flags.log_to_stderr)
  result.update(host=platform.node(), threads=dataclasses.asdict(threads))
  print(json.dumps(result), flush=True)
  suite.print_table(result["kernels"], result["skipped"], result["peak_gflops"])


def run():
  common_flags.run_main(main, "t2t-benchmark")


if __name__ == "__main__":
  run()
