"""bench/compare.py --kernels=deepbench: t2t-benchmark's kernel suite beside PyTorch.

Round 1 runs t2t-benchmark --kernels (which picks the DeepBench shapes that fit
--kernel_budget_s and lists the rest as skipped) and writes the shapes it timed to
kernels.json; every other run times exactly that list: t2t-benchmark --kernel_list and,
with --torch_python, bench/torch_kernels.py. The order of the implementations rotates
by round. The table gives per kernel the median over rounds of each run's median ms,
GFLOP/s, % of t2t-benchmark's matmul peak of that dtype (median over its runs), and
t2t_lite's speed-up over PyTorch.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KEEP = ("id", "kind", "shape", "phase", "dtype", "sets", "flops")  # a kernel list entry


def add_arguments(ap):
  ap.add_argument("--kernels", choices=["deepbench"],
                  help="compare a kernel suite instead of the model configs")
  ap.add_argument("--kernel_budget_s", type=float, default=300,
                  help="t2t-benchmark's budget for picking the shapes (round 1)")
  ap.add_argument("--kernel_sets", default="training,inference_server,inference_device")
  ap.add_argument("--kernel_types", default="gemm,conv,rnn")
  ap.add_argument("--kernel_dtypes", default="auto", choices=["auto", "fp32", "bf16", "both"])


def _run_json(command, timeout):
  """The first JSON line a command prints, or {"error": ...}."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
  start = time.time()
  try:
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
  except subprocess.TimeoutExpired:
    return {"error": f"timed out after {timeout}s"}
  lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
  if proc.returncode != 0 or not lines:
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {proc.returncode}: {tail[:300]}"}
  record = json.loads(lines[0])
  record["wall_s"] = round(time.time() - start, 1)
  return record


def t2t_command(args, kernel_list=None):
  binary = os.path.join(os.path.dirname(sys.executable), "t2t-benchmark")
  command = [binary] if os.path.exists(binary) else [sys.executable, "-m",
                                                      "t2t_lite.bin.t2t_benchmark"]
  command.append(f"--kernels={args.kernels}")
  if kernel_list:
    return command + [f"--kernel_list={kernel_list}"]
  return command + [f"--kernel_budget_s={args.kernel_budget_s}",
                    f"--kernel_sets={args.kernel_sets}", f"--kernel_types={args.kernel_types}",
                    f"--kernel_dtypes={args.kernel_dtypes}"]


def summarize(records):
  """{kernel id: {impl: row}} and the median t2t-benchmark peak per dtype."""
  peaks = {}
  for r in records:
    if r.get("impl") == "t2t_lite" and "peak_gflops" in r:
      for dtype in ("fp32", "bf16"):
        peaks.setdefault(dtype, []).append(r["peak_gflops"][dtype])
  peak = {d: statistics.median(v) for d, v in peaks.items()}
  table = {}
  for r in records:
    for k in r.get("kernels", []):
      table.setdefault(k["id"], {}).setdefault(r["impl"], []).append(k)
  out = {}
  for kernel_id, impls in table.items():
    for impl, runs in impls.items():
      ms = statistics.median(k["ms"] for k in runs)
      gflops = runs[0]["flops"] / ms / 1e6
      out.setdefault(kernel_id, {})[impl] = {
          "runs": len(runs), "ms": ms, "gflops": gflops, "kind": runs[0]["kind"],
          "dtype": runs[0]["dtype"],
          "pct_of_peak": 100 * gflops / peak[runs[0]["dtype"]] if peak else None}
  return out, peak


def print_table(table, peak, skipped, errors):
  print("\nmatmul peaks (t2t-benchmark, median over rounds): "
        + ", ".join(f"{d} {v} GFLOP/s" for d, v in peak.items()) + "\n")
  print("| kernel | runs | t2t_lite ms | GFLOP/s | % of peak | torch ms | GFLOP/s | "
        "% of peak | t2t_lite speed-up |")
  print("|---|---|---|---|---|---|---|---|---|")
  speedups = {}
  for kernel_id, impls in table.items():
    t2t, torch = impls.get("t2t_lite"), impls.get("torch")
    if t2t is None:
      continue
    cells = [kernel_id, str(t2t["runs"]), f"{t2t['ms']:,.2f}", f"{t2t['gflops']:,.1f}",
             f"{t2t['pct_of_peak']:.1f}%"]
    if torch:
      ratio = torch["ms"] / t2t["ms"]
      speedups.setdefault((t2t["kind"], t2t["dtype"]), []).append(ratio)
      cells += [f"{torch['ms']:,.2f}", f"{torch['gflops']:,.1f}",
                f"{torch['pct_of_peak']:.1f}%", f"{ratio:.2f}x"]
    else:
      cells += ["-", "-", "-", "-"]
    print("| " + " | ".join(cells) + " |")
  for (kind, dtype), ratios in speedups.items():
    print(f"\n{kind} {dtype}: t2t_lite speed-up over PyTorch, median over "
          f"{len(ratios)} kernels: {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x)")
  if skipped:
    print(f"\n{len(skipped)} shape(s) skipped by t2t-benchmark (budget or memory); see "
          "the JSON lines in --out")
  for e in errors:
    print(f"\nFAILED {e['impl']} (round {e['round'] + 1}): {e['error']}")


def main(args):
  workdir = tempfile.mkdtemp(prefix="t2t_kernels_")
  kernel_list = os.path.join(workdir, "kernels.json")
  records, skipped = [], []
  with open(args.out, "w") as out:
    for round_index in range(args.rounds):
      plan = [("t2t_lite", None)]
      if args.torch_python:
        plan.append(("torch", [args.torch_python, os.path.join(HERE, "torch_kernels.py"),
                               f"--kernel_list={kernel_list}"]))
      if round_index:  # round 1 picks the shapes; later rounds alternate the order
        plan = plan[round_index % len(plan):] + plan[:round_index % len(plan)]
      for impl, command in plan:
        if impl == "t2t_lite":
          command = t2t_command(args, kernel_list if round_index else None)
        record = _run_json(command, args.timeout * 10)
        record.update(impl=impl, round=round_index)
        records.append(record)
        out.write(json.dumps(record) + "\n")
        out.flush()
        if impl == "t2t_lite" and round_index == 0:
          if "error" in record:
            print(f"FAILED t2t-benchmark --kernels: {record['error']}")
            return
          skipped = record.get("skipped", [])
          with open(kernel_list, "w") as f:
            json.dump([{k: e[k] for k in KEEP} for e in record["kernels"]], f)
        status = record.get("error") or (f"{len(record.get('kernels', []))} kernels, "
                                         f"{record['wall_s']} s")
        print(f"round {round_index + 1}/{args.rounds} {impl:10s} {status}", flush=True)
  table, peak = summarize([r for r in records if "error" not in r])
  print_table(table, peak, skipped, [r for r in records if "error" in r])
