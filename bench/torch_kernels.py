"""PyTorch's time for the kernels of a t2t-benchmark --kernels run (run by bench/compare.py
--kernels with --torch_python; imports neither t2t_lite nor TensorFlow).

Reads the kernel list that t2t-benchmark wrote (its JSON line, or a list of its entries:
kind, shape in DeepBench's field order, phase, dtype, flops) and times each the way
PyTorch users run it: torch.matmul on transposed views; F.conv2d with its own padding, and
torch.nn.grad.conv2d_input / conv2d_weight for the two backward halves; nn.GRU, nn.LSTM
and nn.RNN (tanh), forward under inference_mode for the inference sets, forward and
backward for training. Prints one JSON line: the n x n matmul peaks and per kernel the
median ms.

  ~/torchenv/bin/python bench/torch_kernels.py --kernel_list=kernels.json
"""
import argparse
import json
import math
import platform
import statistics
import time

import torch
import torch.nn.functional as F

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
FIELDS = {
    "gemm": ("m", "n", "k", "a_t", "b_t"),
    "conv": ("w", "h", "c", "n", "k", "s", "r", "pad_w", "pad_h", "wstride", "hstride"),
    "rnn": ("hidden", "batch", "timesteps", "cell"),
}
MIN_CALLS, MAX_CALLS, MIN_TIMED_S = 3, 20, 0.3
# Kernels shorter than MIN_CALL_S run several times per timed call (as t2t-benchmark's).
MIN_CALL_S, MAX_REPS = 2e-3, 100


def peak_gflops(n=2048, steps=20, repeats=3):
  """Best n x n matmul GFLOP/s per dtype (as t2t-benchmark measures TensorFlow's)."""
  out = {}
  for name, dtype in DTYPES.items():
    a = torch.randn(n, n).to(dtype)
    b = a.t().contiguous()
    for _ in range(3):
      torch.matmul(a, b)
    best = 0.0
    for _ in range(repeats):
      start = time.perf_counter()
      for _ in range(steps):
        torch.matmul(a, b)
      best = max(best, 2 * n ** 3 * steps / (time.perf_counter() - start) / 1e9)
    out[name] = round(best, 1)
  return out


def _rand(*shape, dtype):
  return (torch.rand(*shape) * 2 - 1).to(dtype)


def build(entry):
  """A no-argument callable running the kernel's computation."""
  f = dict(zip(FIELDS[entry["kind"]], entry["shape"]))
  dtype, phase = DTYPES[entry["dtype"]], entry["phase"]
  if entry["kind"] == "gemm":
    m, n, k = f["m"], f["n"], f["k"]
    a = _rand(k, m, dtype=dtype).t() if f["a_t"] else _rand(m, k, dtype=dtype)
    b = _rand(n, k, dtype=dtype).t() if f["b_t"] else _rand(k, n, dtype=dtype)
    return lambda: torch.matmul(a, b)
  if entry["kind"] == "conv":
    stride, padding = (f["hstride"], f["wstride"]), (f["pad_h"], f["pad_w"])
    x = _rand(f["n"], f["c"], f["h"], f["w"], dtype=dtype)
    w = _rand(f["k"], f["c"], f["r"], f["s"], dtype=dtype)
    if phase == "forward":
      return lambda: F.conv2d(x, w, stride=stride, padding=padding)
    with torch.no_grad():
      dy = torch.rand_like(F.conv2d(x, w, stride=stride, padding=padding))
    if phase == "backward_input":
      return lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, stride, padding)
    return lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, stride, padding)
  h, b, t = f["hidden"], f["batch"], f["timesteps"]
  make = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM,
          "vanilla": lambda i, o, **kw: torch.nn.RNN(i, o, nonlinearity="tanh", **kw)}
  rnn = make[f["cell"]](h, h, batch_first=True).to(dtype)
  x = _rand(b, t, h, dtype=dtype)
  if phase == "forward":
    def forward():
      with torch.inference_mode():
        return rnn(x)[0]
    return forward
  x.requires_grad_(True)
  dy = _rand(b, t, h, dtype=dtype)

  def forward_backward():
    rnn.zero_grad(set_to_none=True)
    x.grad = None
    rnn(x)[0].backward(dy)
  return forward_backward


def time_entry(entry):
  fn = build(entry)
  fn()  # warm-up (and oneDNN's primitive creation)
  start = time.perf_counter()
  fn()
  once = max(time.perf_counter() - start, 1e-7)
  reps = int(min(MAX_REPS, max(1, math.ceil(MIN_CALL_S / once))))
  calls = int(min(MAX_CALLS, max(MIN_CALLS, math.ceil(MIN_TIMED_S / (once * reps)))))
  times = []
  for _ in range(calls):
    start = time.perf_counter()
    for _ in range(reps):
      fn()
    times.append((time.perf_counter() - start) / reps)
  return statistics.median(times), min(times), calls, reps


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--kernel_list", required=True, help="t2t-benchmark --kernels JSON")
  args = ap.parse_args()
  with open(args.kernel_list) as f:
    data = json.load(f)
  entries = data.get("kernels", []) if isinstance(data, dict) else data
  peak = peak_gflops()
  results = []
  for entry in entries:
    median_s, min_s, calls, reps = time_entry(entry)
    gflops = entry["flops"] / median_s / 1e9
    results.append({"id": entry["id"], "kind": entry["kind"], "phase": entry["phase"],
                    "dtype": entry["dtype"], "flops": entry["flops"],
                    "ms": round(1e3 * median_s, 4), "ms_min": round(1e3 * min_s, 4),
                    "calls": calls, "reps": reps, "gflops": round(gflops, 1),
                    "pct_of_peak": round(100 * gflops / peak[entry["dtype"]], 1)})
  print(json.dumps({"bench": "torch_kernels", "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "host": platform.node(),
                    "peak_gflops": peak, "kernels": results}), flush=True)


if __name__ == "__main__":
  main()
