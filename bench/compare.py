"""Side by side: t2t-benchmark and the reference scripts at the same shapes, alternated.

Each round runs every (config, implementation) pair once, in a rotated order (so no
implementation always runs first or last on a shared, drifting machine); the table gives
per config and implementation the median over rounds of each run's median ms/step, the
throughput, MFU against the fp32 matmul peak t2t-benchmark measured (median over its
runs), and t2t_lite's speed relative to each reference. Every run's JSON line is kept in
--out.

  .venv/bin/python bench/compare.py --reference_dir=/work/shared/bench \\
      --torch_python=/work/torchenv/bin/python --rounds=3 --configs=tiny,small,base,ds2

With --bf16 every implementation trains in bfloat16 and MFU is against the bf16 peak.

With --kernels=deepbench it compares kernels instead (bench/kernel_compare.py): the
first t2t-benchmark --kernels run picks DeepBench's shapes that fit --kernel_budget_s, and
every later run (t2t-benchmark --kernel_list, and bench/torch_kernels.py under
--torch_python) times exactly those, in rotating order.
Configs are those of the reference scripts (reference_dir/common.py): tiny/small/base
train the Transformer (transformer_tiny/small/base), ds2 trains DeepSpeech2
(deep_speech2_base). References: bare TF (the Python running this script), PyTorch eager
and, with --torch_compile, torch.compile (--torch_python).

Decoding (--decode_configs, default small,base; beam 4, alpha 0.6, 32 sources of 32
tokens ending with EOS, 63 output tokens): t2t-benchmark --decode_only with its TF beam
search (t2t_lite-tf) and with the model exported to CTranslate2, float32 and int8
(t2t_lite-ct2-float32/int8, --decode_engine=ctranslate2); the reference ct2_decode.py,
CTranslate2 float32 and int8 on a model built through its own spec API (ct2-float32/int8,
--ct2_python, default this Python); Hugging Face Marian generate (torch+hf-marian,
--torch_python). A decode-only comparison:

  python bench/compare.py --reference_dir=../shared/bench --torch_python=torchenv/bin/python \\
      --configs= --decode_configs=small,base --rounds=3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kernel_compare  # noqa: E402 - this folder is not a package

T2T = {"tiny": "transformer_tiny", "small": "transformer_small", "base": "transformer_base",
       "ds2": "deep_speech2_base"}
# The decode comparison's batch: 32 sources of 32 tokens (EOS last), beam 4, alpha 0.6,
# 63 output tokens (torch_decode.py's and ct2_decode.py's defaults).
DECODE = dict(batch=32, src_len=32, length=63, beams=4, alpha=0.6)


def load_reference_configs(reference_dir):
  sys.path.insert(0, reference_dir)
  import common  # the reference scripts' shapes and FLOP formulas
  return {**common.SEQ2SEQ, **common.DS2}


def t2t_command(config, shape, steps, warmup, bf16=False):
  binary = os.path.join(os.path.dirname(sys.executable), "t2t-benchmark")
  if config == "ds2":
    args = ["--model=deep_speech2", f"--batch={shape['batch']}",
            f"--src_len={shape['frames']}", f"--tgt_len={shape['label_len']}",
            f"--vocab_size={shape['classes']}", "--decode_batch=0"]
  else:
    args = ["--model=transformer", f"--batch={shape['batch']}", f"--src_len={shape['src']}",
            f"--tgt_len={shape['tgt']}", f"--vocab_size={shape['vocab']}",
            "--decode_batch=0"]  # decoding is compared on its own (decode_runs_for)
  if bf16:
    args.append("--hparams=activation_dtype=bfloat16")
  return [binary, f"--hparams_set={T2T[config]}", f"--steps={steps}",
          f"--warmup={warmup}"] + args


def t2t_decode_command(config, shape, repeats, engine="tf", quantization="none"):
  binary = os.path.join(os.path.dirname(sys.executable), "t2t-benchmark")
  return [binary, "--model=transformer", f"--hparams_set={T2T[config]}",
          f"--vocab_size={shape['vocab']}", "--decode_only",
          f"--decode_batch={DECODE['batch']}", f"--decode_src_len={DECODE['src_len']}",
          f"--decode_length={DECODE['length']}", f"--beam_size={DECODE['beams']}",
          f"--alpha={DECODE['alpha']}", f"--decode_repeats={repeats}",
          f"--decode_engine={engine}", f"--quantization={quantization}"]


def decode_runs_for(config, args):
  """(impl, command) pairs of one round's decode comparison at `config`."""
  refs, shape, steps = args.reference_dir, args.shapes[config], str(args.decode_steps)
  runs = [("t2t_lite-tf", t2t_decode_command(config, shape, args.decode_steps))]
  for weights in ("float32", "int8"):
    runs.append((f"t2t_lite-ct2-{weights}", t2t_decode_command(
        config, shape, args.decode_steps, "ctranslate2",
        "none" if weights == "float32" else weights)))
  for weights in ("float32", "int8"):
    runs.append((f"ct2-{weights}", [args.ct2_python, os.path.join(refs, "ct2_decode.py"),
                                    "--config", config, "--compute_type", weights,
                                    "--warmup", "1", "--steps", steps]))
  if args.torch_python and not args.no_hf_decode:
    runs.append(("torch+hf-marian", [args.torch_python, os.path.join(refs, "torch_decode.py"),
                                     "--config", config, "--warmup", "1", "--steps", steps]))
  return runs


def runs_for(config, args):
  """(impl, command) pairs of one round for `config`."""
  refs = args.reference_dir
  steps = args.steps_base if config in ("base", "ds2") else args.steps
  script = "tf_ds2.py" if config == "ds2" else "tf_seq2seq.py"
  torch_script = "torch_ds2.py" if config == "ds2" else "torch_seq2seq.py"
  common = ["--config", config, "--warmup", str(args.warmup), "--steps", str(steps)]
  common += ["--bf16"] if args.bf16 else []
  runs = [("t2t_lite", t2t_command(config, args.shapes[config], steps, args.warmup,
                                   args.bf16)),
          ("tf", [sys.executable, os.path.join(refs, script)] + common)]
  if args.torch_python:
    runs.append(("torch", [args.torch_python, os.path.join(refs, torch_script)] + common))
    if args.torch_compile:
      runs.append(("torch+compile", [args.torch_python, os.path.join(refs, torch_script)]
                   + common + ["--compile"]))
  return runs


def run_one(impl, command, workdir, timeout):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1",
             BENCH_PEAK_FILE=os.path.join(workdir, "peak.json"))
  start = time.time()
  try:
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir,
                          timeout=timeout)
  except subprocess.TimeoutExpired:
    return {"impl": impl, "error": f"timed out after {timeout}s"}
  lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
  if proc.returncode != 0 or not lines:
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"impl": impl, "error": f"exit {proc.returncode}: {tail[:300]}"}
  record = json.loads(lines[0])
  record.update(impl=impl, wall_s=round(time.time() - start, 1))
  return record


def summarize(records, configs, precision="fp32"):
  """{config: {impl: {ms, throughput, unit, gflop, mfu, decode...}}} from run records, and
  the median matmul peak of `precision` (fp32 or bf16) that t2t-benchmark measured (the
  MFU denominator)."""
  peaks = [r["peak_gflops"][precision] for r in records if r.get("bench") == "t2t_benchmark"
           and "peak_gflops" in r]  # --decode_only runs measure no peak
  fp32_peak = statistics.median(peaks) if peaks else None
  table = {}
  for config in configs:
    for impl in sorted({r["impl"] for r in records if r.get("config") == config}):
      rs = [r for r in records if r.get("config") == config and r["impl"] == impl
            and "error" not in r]
      if not rs:
        continue
      row = {"runs": len(rs)}
      if impl == "torch+hf-marian":
        ms = statistics.median(r["ms_per_step_median"] for r in rs)
        row.update(decode_ms=ms, decode_tokens_per_s=rs[0]["out_tokens_per_call"] / ms * 1e3)
      else:
        key = "ms_per_step" if impl == "t2t_lite" else "ms_per_step_median"
        ms = statistics.median(r[key] for r in rs)
        units = rs[0].get("audio_s_per_step", rs[0].get("audio_seconds_per_step")) \
            or rs[0].get("tgt_tokens_per_step", rs[0].get("target_tokens_per_step"))
        gflop = rs[0].get("gflop_per_step")
        row.update(ms=ms, per_run=[r[key] for r in rs], throughput=units / ms * 1e3,
                   unit="audio s/s" if config == "ds2" else "tgt tok/s", gflop=gflop,
                   mfu=gflop / ms * 1e3 / fp32_peak if gflop and fp32_peak else None)
        if impl == "t2t_lite" and "decode_ms_per_batch" in rs[0]:
          d = statistics.median(r["decode_ms_per_batch"] for r in rs)
          row.update(decode_ms=d, decode_tokens_per_s=statistics.median(
              r["decode_output_tokens_per_s"] for r in rs))
      table.setdefault(config, {})[impl] = row
  return table, fp32_peak


def summarize_decode(records, decode_configs):
  """{config: {impl: {decode_ms, per_run, decode_tokens_per_s, runs}}}: the median over
  rounds of each decode run's ms per batch, and output tokens per batch over it."""
  table = {}
  for config in decode_configs:
    key = f"decode:{config}"
    for impl in sorted({r["impl"] for r in records if r.get("config") == key}):
      rs = [r for r in records if r.get("config") == key and r["impl"] == impl
            and "error" not in r]
      if not rs:
        continue
      if impl.startswith("t2t_lite"):
        per_run = [r["decode_ms_per_batch"] for r in rs]
        tokens = [r["decode_output_tokens"] for r in rs]
      else:  # ct2_decode.py, torch_decode.py: ms per translate/generate call of the batch
        per_run = [r["ms_per_step_median"] for r in rs]
        tokens = [r["out_tokens_per_call"] for r in rs]
      ms = statistics.median(per_run)
      table.setdefault(config, {})[impl] = {
          "runs": len(rs), "decode_ms": ms, "per_run": per_run,
          "decode_tokens_per_s": statistics.median(tokens) / ms * 1e3}
  return table


def print_decode_table(table):
  print(f"\n| decode ({DECODE['batch']} x {DECODE['src_len']} -> {DECODE['length']} tokens, "
        f"beam {DECODE['beams']}) | impl | runs | ms per batch (median) | per-run | "
        "output tokens/s | vs t2t_lite-tf |")
  print("|---|---|---|---|---|---|---|")
  for config, impls in table.items():
    tf_ms = impls.get("t2t_lite-tf", {}).get("decode_ms")
    for impl, row in impls.items():
      ratio = f"{row['decode_ms'] / tf_ms:.2f}x" if tf_ms and impl != "t2t_lite-tf" else ""
      print(f"| {config} | {impl} | {row['runs']} | {row['decode_ms']:,.1f} | "
            f"{', '.join(f'{m:.0f}' for m in row['per_run'])} | "
            f"{row['decode_tokens_per_s']:,.1f} | {ratio} |")


def print_table(table, fp32_peak, errors, precision="fp32"):
  print(f"\n{precision} matmul peak (t2t-benchmark, median): {fp32_peak} GFLOP/s\n")
  print("| config | impl | runs | ms/step (median) | per-run medians | throughput | "
        f"GFLOP/step | MFU {precision} | t2t_lite speed-up |")
  print("|---|---|---|---|---|---|---|---|---|")
  for config, impls in table.items():
    t2t = impls.get("t2t_lite", {}).get("ms")
    for impl, row in impls.items():
      if "ms" not in row:
        continue
      ratio = f"{row['ms'] / t2t:.2f}x" if t2t and impl != "t2t_lite" else ""
      mfu = f"{row['mfu']:.1%}" if row.get("mfu") else "-"
      print(f"| {config} | {impl} | {row['runs']} | {row['ms']:,.1f} | "
            f"{', '.join(f'{m:.0f}' for m in row['per_run'])} | "
            f"{row['throughput']:,.1f} {row['unit']} | {row['gflop']} | {mfu} | {ratio} |")
  decode = {impl: row for impls in table.values() for impl, row in impls.items()
            if "decode_ms" in row}
  if decode:
    print("\n| decode (small, 32 x 32 -> 63 tokens, beam 4) | runs | ms per batch | "
          "output tokens/s |")
    print("|---|---|---|---|")
    for impl, row in decode.items():
      print(f"| {impl} | {row['runs']} | {row['decode_ms']:,.1f} | "
            f"{row['decode_tokens_per_s']:,.1f} |")
  for e in errors:
    print(f"\nFAILED {e.get('config')} {e['impl']}: {e['error']}")


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--reference_dir", help="shared/bench (the reference scripts; not needed "
                  "with --kernels)")
  ap.add_argument("--torch_python", help="Python of a PyTorch (+ transformers) environment")
  ap.add_argument("--torch_compile", action="store_true", help="also run torch.compile")
  ap.add_argument("--no_hf_decode", action="store_true", help="skip torch_decode.py")
  ap.add_argument("--bf16", action="store_true",
                  help="train in bfloat16 (t2t_lite activation_dtype=bfloat16, the "
                  "references' --bf16); MFU against the bf16 peak; no decode comparison")
  ap.add_argument("--configs", default="tiny,small,base,ds2", help="training comparisons "
                  "(empty: none)")
  ap.add_argument("--decode_configs", default="small,base",
                  help="decode comparisons (empty: none)")
  ap.add_argument("--ct2_python", default=sys.executable,
                  help="Python with ctranslate2, for ct2_decode.py (default: this one)")
  ap.add_argument("--rounds", type=int, default=3)
  ap.add_argument("--warmup", type=int, default=2)
  ap.add_argument("--steps", type=int, default=6, help="timed steps, tiny and small")
  ap.add_argument("--steps_base", type=int, default=3, help="timed steps, base and ds2")
  ap.add_argument("--decode_steps", type=int, default=2,
                  help="timed decodes of the batch per run")
  ap.add_argument("--timeout", type=int, default=600, help="seconds per run at most")
  ap.add_argument("--out", default="compare_results.jsonl")
  ap.add_argument("--budget_s", type=float, default=0,
                  help="start no round that would, at the last round's pace, end later")
  kernel_compare.add_arguments(ap)
  args = ap.parse_args()
  if args.kernels:
    return kernel_compare.main(args)
  if not args.reference_dir:
    ap.error("--reference_dir is required (except with --kernels)")
  configs = [c for c in args.configs.split(",") if c]
  decode_configs = [c for c in args.decode_configs.split(",") if c]
  args.reference_dir = os.path.abspath(args.reference_dir)  # the runs start in a temp dir
  args.shapes = load_reference_configs(args.reference_dir)
  unknown = [c for c in configs + decode_configs if c not in T2T]
  if "ds2" in decode_configs:
    ap.error("--decode_configs: ds2 has no beam-search decode comparison")
  if unknown:
    ap.error(f"unknown config(s) {', '.join(unknown)}; use {', '.join(T2T)}")
  if args.bf16 and "ds2" in configs:
    ap.error("--bf16: the ds2 reference scripts have no bfloat16 mode; leave ds2 out")
  workdir = tempfile.mkdtemp(prefix="t2t_compare_")
  records = []
  with open(args.out, "w") as out:
    start = time.time()
    for round_index in range(args.rounds):
      elapsed = time.time() - start
      projected = elapsed * (round_index + 1) / max(round_index, 1)
      if round_index and args.budget_s and projected > args.budget_s:
        print(f"stopping after {round_index} round(s): the next would pass --budget_s")
        break
      plan = [(config, impl, cmd) for config in configs for impl, cmd in runs_for(config, args)]
      if not args.bf16:
        plan += [(f"decode:{config}", impl, cmd) for config in decode_configs
                 for impl, cmd in decode_runs_for(config, args)]
      # Rotate the order each round: no implementation is always first or last.
      shift = round_index * len(plan) // args.rounds
      for config, impl, command in plan[shift:] + plan[:shift]:
        record = run_one(impl, command, workdir, args.timeout)
        record["config"], record["round"] = config, round_index
        records.append(record)
        out.write(json.dumps(record) + "\n")
        out.flush()
        ms = record.get("decode_ms_per_batch", record.get(
            "ms_per_step_median", record.get("ms_per_step")))
        status = record.get("error") or f"{ms} ms, {record['wall_s']} s"
        print(f"round {round_index + 1}/{args.rounds} {config:12s} {impl:20s} {status}",
              flush=True)
  precision = "bf16" if args.bf16 else "fp32"
  table, peak = summarize(records, configs, precision)
  print_table(table, peak, [r for r in records if "error" in r], precision)
  if decode_configs and not args.bf16:
    print_decode_table(summarize_decode(records, decode_configs))


if __name__ == "__main__":
  main()
