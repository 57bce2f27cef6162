"""t2t-benchmark --kernels=deepbench: DeepBench's GEMM, convolution and RNN shapes, timed
through the framework's own layers, in GFLOP/s and % of the matmul peak of the same run.

What runs (TensorFlow, as t2t_lite's models run it):

  GEMM   tf.matmul with DeepBench's transposes, as the dense projections compute.
  conv   layers/conv.py: explicit zero padding and the VALID convolution (forward); for
         the training set also its two backward halves, `input_gradient` and the
         forward-convolution `filter_gradient`, each timed alone as DeepBench does.
  RNN    GRU: layers/recurrent.py's hoisted recurrence over a Keras GRU's weights; LSTM and
         vanilla: Keras's LSTM and SimpleRNN layers. Forward for the inference sets, forward
         and backward (gradients of the input and the weights) for the training set.
         Unlike DeepBench's cuDNN runs (CUDNN_SKIP_INPUT), the layers also project their
         inputs: FLOPs count both matmuls of every step.

FLOPs are 2 per multiply-add. Each dtype's % of peak is against the n x n matmul peak of
that dtype measured in the same process (benchmark.matmul_peak_gflops).

**Which shapes.** Not every published shape fits a small machine: the largest GEMM is 2.3
TFLOP, a GRU training shape 7 TFLOP. Each shape's time is estimated before it runs, as
FLOPs / peak / the efficiency its kind reached so far (a prior until one has run), plus
setup, scaled by how long the shapes run so far took against such estimates (tracing, a
busy machine); its memory from its tensors. The budget (--kernel_budget_s) is split
evenly over the (dtype, kind) groups, unused time passing to the next; within a group the
cheapest shapes run first, and a shape that would overrun its group's budget, or need
more than the memory limit, is skipped with the reason in the report. A shape that
appears in several sets runs once. `--kernel_list` times a given list instead (every
entry, no budget): bench/compare.py gives one list to every implementation and round.
"""
import dataclasses
import json
import math
import statistics
import time

import keras
import tensorflow as tf

from t2t_lite import benchmark
from t2t_lite.errors import UserError
from t2t_lite.kernels import deepbench_shapes
from t2t_lite.layers import conv, recurrent

KINDS = ("gemm", "conv", "rnn")
DTYPES = {"fp32": tf.float32, "bf16": tf.bfloat16}
DTYPE_CHOICES = ("auto", "fp32", "bf16", "both")
# Auto times bf16 too where the measured bf16 peak beats fp32's by this factor.
BF16_WORTH = 1.15
# Efficiency (fraction of peak) assumed for a kind's first shape, before one has run.
PRIOR_EFFICIENCY = {"gemm": 0.6, "conv": 0.3, "rnn": 0.1}
# Timed calls per shape: enough for MIN_TIMED_S of timing, within these bounds.
MIN_CALLS, MAX_CALLS, MIN_TIMED_S = 3, 20, 0.3
# Repetitions inside one call for kernels shorter than MIN_CALL_S (see `repeated`).
MIN_CALL_S, MAX_REPS = 2e-3, 100
# Per shape beyond its calls: tracing, building layers, random inputs (and per byte).
SETUP_S, SETUP_S_PER_GB = 0.5, 1.0
GATES = {"vanilla": 1, "gru": 3, "lstm": 4}
SHAPE_FIELDS = {
    "gemm": ("m", "n", "k", "a_t", "b_t"),
    "conv": ("w", "h", "c", "n", "k", "s", "r", "pad_w", "pad_h", "wstride", "hstride"),
    "rnn": ("hidden", "batch", "timesteps", "cell"),
}
TABLES = {"gemm": deepbench_shapes.GEMM, "conv": deepbench_shapes.CONV,
          "rnn": deepbench_shapes.RNN}


@dataclasses.dataclass(frozen=True)
class Kernel:
  """One timed computation: a DeepBench shape, the phase of it that runs, the dtype."""
  kind: str
  shape: tuple
  phase: str   # forward, backward_input, backward_filter, forward_backward
  dtype: str   # fp32, bf16
  sets: tuple = ()

  @property
  def fields(self):
    return dict(zip(SHAPE_FIELDS[self.kind], self.shape))

  @property
  def key(self):
    return (self.kind, tuple(self.shape), self.phase, self.dtype)

  def describe(self):
    f = self.fields
    if self.kind == "gemm":
      ops = ("T" if f["a_t"] else "N") + ("T" if f["b_t"] else "N")
      return f"gemm m{f['m']} n{f['n']} k{f['k']} {ops}"
    if self.kind == "conv":
      return (f"conv {f['w']}x{f['h']} c{f['c']} n{f['n']} k{f['k']} {f['s']}x{f['r']} "
              f"pad {f['pad_w']},{f['pad_h']} stride {f['wstride']},{f['hstride']}")
    return f"{f['cell']} h{f['hidden']} b{f['batch']} t{f['timesteps']}"

  # -- cost ---------------------------------------------------------------------------
  def conv_output_hw(self):
    f = self.fields
    return ((f["h"] + 2 * f["pad_h"] - f["r"]) // f["hstride"] + 1,
            (f["w"] + 2 * f["pad_w"] - f["s"]) // f["wstride"] + 1)

  def flops(self):
    f = self.fields
    if self.kind == "gemm":
      return 2 * f["m"] * f["n"] * f["k"]
    if self.kind == "conv":
      p, q = self.conv_output_hw()
      return 2 * f["n"] * f["k"] * f["c"] * f["r"] * f["s"] * p * q
    h, b, t = f["hidden"], f["batch"], f["timesteps"]
    forward = 2 * GATES[f["cell"]] * h * (h + h) * b * t  # input and recurrent matmuls
    return 3 * forward if self.phase == "forward_backward" else forward

  def memory_bytes(self):
    """About what the computation holds at once (inputs, outputs, intermediates)."""
    f = self.fields
    size = 2 if self.dtype == "bf16" else 4
    if self.kind == "gemm":
      m, n, k = f["m"], f["n"], f["k"]
      # float32 originals, their cast copies, the product
      return (m * k + k * n) * (4 + size) + m * n * size
    if self.kind == "conv":
      p, q = self.conv_output_hw()
      x = f["n"] * f["h"] * f["w"] * f["c"]
      padded = f["n"] * (f["h"] + 2 * f["pad_h"]) * (f["w"] + 2 * f["pad_w"]) * f["c"]
      y = f["n"] * p * q * f["k"]
      w = f["r"] * f["s"] * f["c"] * f["k"]
      # the filter gradient transposes the padded input and the output gradient
      return (x + 3 * padded + 3 * y + 3 * w) * 4
    h, b, t, g = f["hidden"], f["batch"], f["timesteps"], GATES[f["cell"]]
    per_step = b * h * (2 + 2 * g + (8 if self.phase == "forward_backward" else 0))
    return (t * per_step + 4 * g * h * h) * 4

  def to_json(self):
    return {"id": f"{self.describe()} {self.phase} {self.dtype}", "kind": self.kind,
            "shape": list(self.shape), "fields": self.fields, "phase": self.phase,
            "dtype": self.dtype, "sets": list(self.sets), "flops": self.flops()}

  @classmethod
  def from_json(cls, entry):
    kind = entry["kind"]
    if kind not in KINDS or entry.get("dtype") not in DTYPES:
      raise UserError(f"--kernel_list: unknown kernel {entry.get('id', entry)}")
    shape = tuple(entry["shape"])
    if len(shape) != len(SHAPE_FIELDS[kind]):
      raise UserError(f"--kernel_list: a {kind} shape has {len(SHAPE_FIELDS[kind])} fields "
                      f"({', '.join(SHAPE_FIELDS[kind])}), got {list(shape)}")
    return cls(kind, shape, entry["phase"], entry["dtype"], tuple(entry.get("sets", ())))


def phases(kind, set_name):
  if kind == "gemm":
    return ("forward",)
  if set_name != "training":
    return ("forward",)
  return (("forward", "backward_input", "backward_filter") if kind == "conv"
          else ("forward_backward",))


def deepbench_kernels(sets, kinds, dtypes):
  """Every (shape, phase, dtype) of DeepBench's lists for these sets and kinds, each once
  (with all the sets it appears in), in the lists' order."""
  merged = {}
  for dtype in dtypes:
    for kind in kinds:
      for set_name in sets:
        for shape in TABLES[kind][set_name]:
          for phase in phases(kind, set_name):
            kernel = Kernel(kind, tuple(shape), phase, dtype, (set_name,))
            if kernel.key in merged:
              old = merged[kernel.key]
              if set_name not in old.sets:
                merged[kernel.key] = dataclasses.replace(old, sets=old.sets + (set_name,))
            else:
              merged[kernel.key] = kernel
  return list(merged.values())


def read_kernel_list(path):
  """Kernels from a JSON file: a list of kernel entries, or an earlier run's JSON line
  (its "kernels")."""
  try:
    with open(path) as f:
      data = json.load(f)
  except (OSError, ValueError) as e:
    raise UserError(f"--kernel_list={path}: cannot read it as JSON ({e})") from None
  entries = data.get("kernels", []) if isinstance(data, dict) else data
  try:
    return [Kernel.from_json(e) for e in entries]
  except (KeyError, TypeError) as e:
    raise UserError(f"--kernel_list={path}: an entry lacks {e}") from None


# -- building the computations ------------------------------------------------------------
def _random(shape, seed, dtype):
  return tf.cast(tf.random.stateless_uniform(shape, [seed, 7], -1.0, 1.0), dtype)


def _gemm_fn(kernel, dtype):
  f = kernel.fields
  m, n, k = f["m"], f["n"], f["k"]
  a = _random([k, m] if f["a_t"] else [m, k], 1, dtype)
  b = _random([n, k] if f["b_t"] else [k, n], 2, dtype)
  return lambda: tf.matmul(a, b, transpose_a=f["a_t"], transpose_b=f["b_t"])


def _conv_fn(kernel, dtype):
  f = kernel.fields
  strides, padding = (f["hstride"], f["wstride"]), (f["pad_h"], f["pad_w"])
  x = _random([f["n"], f["h"], f["w"], f["c"]], 1, dtype)
  weights = _random([f["r"], f["s"], f["c"], f["k"]], 2, dtype)
  if kernel.phase == "forward":
    return lambda: conv.conv2d(x, weights, strides, padding)
  p, q = kernel.conv_output_hw()
  dy = _random([f["n"], p, q, f["k"]], 3, dtype)
  padded = conv.pad_input(x, padding)
  if kernel.phase == "backward_input":
    shape = tf.shape(padded)
    h, w = f["h"], f["w"]
    ph, pw = padding
    # The padded input's gradient, then tf.pad's gradient (the slice of the real input).
    return lambda: conv.input_gradient(shape, weights, dy, strides)[:, ph:ph + h, pw:pw + w]
  return lambda: conv.filter_gradient(padded, dy, (f["r"], f["s"]), strides)


def _rnn_fn(kernel, dtype):
  f = kernel.fields
  h, b, t, cell = f["hidden"], f["batch"], f["timesteps"], f["cell"]
  policy = "mixed_bfloat16" if dtype == tf.bfloat16 else "float32"
  make = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM,
          "vanilla": keras.layers.SimpleRNN}[cell]
  layer = make(h, return_sequences=True, dtype=policy)
  layer.build((b, t, h))
  x = _random([b, t, h], 1, dtype)
  mask = tf.ones([b, t], tf.bool)

  def forward(x):
    if cell == "gru":
      recurrent.check_supported(layer)
      return recurrent.gru_sequence(layer, x, mask)
    return layer(x)

  if kernel.phase == "forward":
    return lambda: forward(x)
  dy = _random([b, t, h], 3, dtype)

  def forward_backward():
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = forward(x)
    return tape.gradient(y, [x] + layer.trainable_variables, output_gradients=dy)
  return forward_backward


BUILDERS = {"gemm": _gemm_fn, "conv": _conv_fn, "rnn": _rnn_fn}


def _sync():
  if tf.config.list_logical_devices("GPU"):
    tf.test.experimental.sync_devices()


def repeated(body, reps):
  """A tf.function running body() `reps` times in a while loop (body's inputs do not
  change, and TensorFlow does not hoist loop-invariant ops): a kernel of microseconds
  is timed without paying the ~0.1 ms of a tf.function call each time, as inside a
  training step's graph, where ops are not dispatched from Python one by one."""
  if reps == 1:
    return tf.function(body)

  @tf.function
  def run():
    first = body()
    return tf.while_loop(lambda i, _: i < reps - 1, lambda i, _: (i + 1, body()),
                         (tf.constant(0), first))[1]
  return run


def time_kernel(kernel, calls, reps=1):
  """(median, min) seconds per repetition of the kernel's computation, over `calls`
  timed calls of `reps` repetitions each, after one untimed call (which traces)."""
  fn = repeated(BUILDERS[kernel.kind](kernel, DTYPES[kernel.dtype]), reps)
  fn()
  _sync()
  times = []
  for _ in range(calls):
    start = time.perf_counter()
    fn()
    _sync()
    times.append((time.perf_counter() - start) / reps)
  return statistics.median(times), min(times)


# -- choosing and running -----------------------------------------------------------------
def choose_dtypes(choice, peak):
  if choice == "both":
    return ["fp32", "bf16"]
  if choice == "auto":
    return ["fp32", "bf16"] if peak["bf16"] >= BF16_WORTH * peak["fp32"] else ["fp32"]
  return [choice]


def available_memory_bytes():
  """MemAvailable from /proc/meminfo (None where there is none)."""
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  return None


class Estimator:
  """Seconds a kernel will take: FLOPs / peak / the efficiency its kind reached so far."""

  def __init__(self, peak):
    self.peak = peak
    self.efficiencies = {}  # (kind, phase, dtype) -> [fractions of peak reached]
    self.wall_ratios = []   # a kernel's whole wall time (setup, tracing) / its estimate

  def efficiency(self, kernel):
    seen = self.efficiencies.get((kernel.kind, kernel.phase, kernel.dtype))
    if seen:
      return statistics.median(seen)
    seen = [e for (kind, _, _), es in self.efficiencies.items() if kind == kernel.kind
            for e in es]
    return statistics.median(seen) if seen else PRIOR_EFFICIENCY[kernel.kind]

  def call_s(self, kernel):
    return kernel.flops() / (self.peak[kernel.dtype] * 1e9 * self.efficiency(kernel))

  def calls(self, kernel):
    """Timed calls (of reps() repetitions each): enough for MIN_TIMED_S of timing."""
    call = self.call_s(kernel) * self.reps(kernel)
    return int(min(MAX_CALLS, max(MIN_CALLS, math.ceil(MIN_TIMED_S / call))))

  def reps(self, kernel):
    """Repetitions per timed call: enough for about MIN_CALL_S a call."""
    return int(min(MAX_REPS, max(1, math.ceil(MIN_CALL_S / self.call_s(kernel)))))

  def base_s(self, kernel):
    """The kernel's whole wall time from first principles: setup and tracing, then the
    untimed and the timed calls."""
    setup = SETUP_S + SETUP_S_PER_GB * kernel.memory_bytes() / 1e9
    return setup + (1 + self.calls(kernel)) * self.call_s(kernel) * self.reps(kernel)

  def total_s(self, kernel):
    """base_s corrected by how the kernels run so far compared with their base_s."""
    ratio = statistics.median(self.wall_ratios) if self.wall_ratios else 1.0
    return self.base_s(kernel) * ratio

  def record_wall(self, base_s, wall_s):
    self.wall_ratios.append(wall_s / max(base_s, 1e-6))

  def record(self, kernel, seconds_per_call):
    achieved = kernel.flops() / seconds_per_call / 1e9 / self.peak[kernel.dtype]
    self.efficiencies.setdefault((kernel.kind, kernel.phase, kernel.dtype), []).append(
        max(achieved, 1e-4))


def _result(kernel, median_s, min_s, calls, reps, peak):
  gflops = kernel.flops() / median_s / 1e9
  return dict(kernel.to_json(), ms=round(1e3 * median_s, 4), ms_min=round(1e3 * min_s, 4),
              calls=calls, reps=reps, gflops=round(gflops, 1),
              pct_of_peak=round(100 * gflops / peak[kernel.dtype], 1))


def run_kernels(kernels, peak, budget_s=None, memory_limit=None, log=print):
  """Times `kernels`: every one when budget_s is None, else those that fit (see the
  module docstring). Returns (results, skipped): result dicts, and {id, reason} dicts."""
  estimator = Estimator(peak)
  results, skipped = [], []
  start = time.perf_counter()
  groups = {}
  for k in kernels:
    groups.setdefault((k.dtype, k.kind), []).append(k)
  pending = list(groups.values())
  for index, group in enumerate(pending):
    group_start = time.perf_counter()
    group_budget = None
    if budget_s is not None:
      group_budget = (budget_s - (group_start - start)) / (len(pending) - index)
    todo = list(group)
    while todo:
      if group_budget is not None:  # cheapest first, by the current estimates
        todo.sort(key=estimator.total_s)
      kernel = todo.pop(0)
      need = kernel.memory_bytes()
      if memory_limit and need > memory_limit:
        skipped.append(dict(kernel.to_json(), reason=f"needs ~{need / 2 ** 20:,.0f} MiB, over "
                            f"the {memory_limit / 2 ** 20:,.0f} MiB memory limit"))
        continue
      base_s, estimate = estimator.base_s(kernel), estimator.total_s(kernel)
      if group_budget is not None:
        left = group_budget - (time.perf_counter() - group_start)
        if estimate > left:
          skipped.append(dict(kernel.to_json(), reason=f"over the time budget (estimated "
                              f"{estimate:,.1f} s, {max(left, 0):,.1f} s of its group's "
                              "budget left)"))
          continue
      calls = estimator.calls(kernel) if group_budget is not None else MIN_CALLS
      reps = estimator.reps(kernel)
      kernel_start = time.perf_counter()
      try:
        median_s, min_s = time_kernel(kernel, calls, reps)
      except (tf.errors.ResourceExhaustedError, MemoryError) as e:
        skipped.append(dict(kernel.to_json(), reason=f"out of memory ({type(e).__name__})"))
        continue
      estimator.record_wall(base_s, time.perf_counter() - kernel_start)
      estimator.record(kernel, median_s)
      results.append(_result(kernel, median_s, min_s, calls, reps, peak))
      log(f"  {kernel.describe():52s} {kernel.phase:16s} {kernel.dtype} "
          f"{results[-1]['ms']:>10,.2f} ms {results[-1]['gflops']:>8,.1f} GFLOP/s")
  return results, skipped


def print_table(results, skipped, peak):
  """The results as a Markdown table per kind, and the skipped shapes counted by reason."""
  for kind in KINDS:
    rows = [r for r in results if r["kind"] == kind]
    if not rows:
      continue
    print(f"\n| {kind} | sets | phase | dtype | ms | GFLOP/s | % of peak |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
      print(f"| {r['id'].rsplit(' ', 2)[0]} | {', '.join(r['sets'])} | {r['phase']} | "
            f"{r['dtype']} | {r['ms']:,.2f} | {r['gflops']:,.1f} | {r['pct_of_peak']}% |")
  print(f"\npeaks (n x n matmul, this run): fp32 {peak['fp32']} GFLOP/s, bf16 "
        f"{peak['bf16']} GFLOP/s")
  if skipped:
    reasons = {}
    for s in skipped:
      reasons.setdefault(s["reason"].split(" (")[0], []).append(s)
    print(f"skipped {len(skipped)} shape(s): " + "; ".join(
        f"{len(v)} {k}" for k, v in reasons.items()) + " (each listed in the JSON)")


def measure(settings, log=print):
  """t2t-benchmark --kernels=deepbench: the JSON-able result (see the module docstring).
  `settings` is t2t-benchmark's BenchmarkOptions."""
  peak_n = 256 if settings.smoke else 2048  # --smoke: checks that it runs, quickly
  peak = benchmark.matmul_peak_gflops(n=peak_n)
  if settings.kernel_list:
    kernels, budget_s = read_kernel_list(settings.kernel_list), None
    sets = sorted({s for k in kernels for s in k.sets})
    kinds = [k for k in KINDS if any(x.kind == k for x in kernels)]
    dtypes = sorted({k.dtype for k in kernels})
  else:
    sets = settings.kernel_names("kernel_sets", deepbench_shapes.SETS)
    kinds = settings.kernel_names("kernel_types", KINDS)
    dtypes = choose_dtypes(settings.kernel_dtypes, peak)
    kernels, budget_s = deepbench_kernels(sets, kinds, dtypes), settings.kernel_budget_s
  available = available_memory_bytes()
  memory_limit = (settings.kernel_memory_mib * 2 ** 20 if settings.kernel_memory_mib
                  else available // 2 if available else None)
  log(f"{len(kernels)} kernel(s) of DeepBench's {', '.join(sets)} set(s), {', '.join(dtypes)}"
      + (f", budget {budget_s:g} s" if budget_s else ", every one"))
  start = time.perf_counter()
  results, skipped = run_kernels(kernels, peak, budget_s, memory_limit, log)
  elapsed_s = round(time.perf_counter() - start, 1)
  # On a shared machine one measurement of the peak can catch a busy moment: the peak is
  # the best of one before and one after the kernels, and % of peak is against it.
  after = benchmark.matmul_peak_gflops(n=peak_n)
  best = {name: max(peak[name], after[name]) for name in peak}
  for r in results:
    r["pct_of_peak"] = round(100 * r["gflops"] / best[r["dtype"]], 1)
  peak = dict(best, before=peak, after=after)
  return {"bench": "t2t_kernels", "suite": "deepbench", "source": deepbench_shapes.SOURCE,
          "sets": sets, "kinds": kinds, "dtypes": dtypes, "peak_gflops": peak,
          "budget_s": budget_s, "elapsed_s": elapsed_s,
          "memory_limit_mib": round(memory_limit / 2 ** 20) if memory_limit else None,
          "timed": len(results), "skipped_count": len(skipped), "kernels": results,
          "skipped": skipped}
