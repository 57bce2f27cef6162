"""Choices made per machine: thread pools from the usable cores, and the compute dtype that
`activation_dtype=auto` stands for.

Machines of one kind differ a lot (fp32 matmul peaks of 478, 214 and ~110 GFLOP/s were
measured on three of this project's; the last has AVX2 only, where bfloat16 is no faster
than float32). So nothing is assumed from a CPU's name:

- **Threads.** TensorFlow's intra-op pool gets every usable core (the affinity mask, capped
  by a cgroup CPU quota, which os.cpu_count() and TensorFlow ignore). The inter-op pool
  and tf.data's private pool are sized from that count (see `thread_settings`). Set
  before TensorFlow's runtime starts (`configure_threads`).
- **Compute dtype.** `activation_dtype=auto` is bfloat16 when a short probe (a dense
  layer's forward and backward, both dtypes timed alternately) runs bfloat16 at least
  `BF16_MIN_SPEEDUP` times faster than float32, else float32. The probe runs once per
  machine: its result is cached per user (`cache_path`), keyed by the CPU model, the CPU
  flags that decide bfloat16 speed, the accelerators and the TensorFlow version.
"""
import dataclasses
import datetime
import json
import math
import os
import platform
import time

from t2t_lite import options
from t2t_lite.options import setting

# bfloat16 must beat float32 by this factor in the probe: a noisy tie keeps float32
# (exact results, no precision to think about).
BF16_MIN_SPEEDUP = 1.15
# The CPU flags that decide how fast bfloat16 and float32 matmuls run (oneDNN's paths).
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16",
               "amx_tile", "amx_fp16")
CACHE_ENV = "T2T_LITE_CACHE_DIR"


@options.group("Thread")
class ThreadOptions(options.Options):
  """TensorFlow's thread pools (0: chosen from the usable cores, as logged at start)."""
  intra_op_threads: int = setting(0, "Threads one op may use (0: every usable core).",
                                  minimum=0)
  inter_op_threads: int = setting(0, "Ops run at once (0: chosen from the usable cores).",
                                  minimum=0)
  input_threads: int = setting(0, "Threads of the tf.data input pipeline's private pool "
                               "(0: chosen from the usable cores).", minimum=0)


@dataclasses.dataclass(frozen=True)
class ThreadSettings:
  cores: int
  intra_op: int
  inter_op: int
  input: int

  def describe(self):
    return (f"{self.cores} usable core(s): {self.intra_op} intra-op, {self.inter_op} "
            f"inter-op, {self.input} input-pipeline thread(s)")


def _cgroup_cpu_limit():
  """The cgroup's CPU quota in cores (rounded up), or None without one."""
  try:
    with open("/sys/fs/cgroup/cpu.max") as f:  # cgroup v2: "QUOTA PERIOD" or "max PERIOD"
      quota, period = f.read().split()[:2]
    if quota != "max":
      return max(1, math.ceil(int(quota) / int(period)))
    return None
  except (OSError, ValueError):
    pass
  try:  # cgroup v1
    with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
      quota = int(f.read())
    with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
      period = int(f.read())
    return max(1, math.ceil(quota / period)) if quota > 0 else None
  except (OSError, ValueError):
    return None


def usable_cores():
  """The cores this process may run on: its affinity mask, capped by a cgroup quota."""
  try:
    cores = len(os.sched_getaffinity(0))
  except AttributeError:  # not Linux
    cores = os.cpu_count() or 1
  limit = _cgroup_cpu_limit()
  return max(1, min(cores, limit) if limit else cores)


def thread_settings(opts=ThreadOptions(), cores=None):
  """The thread pools for `cores` usable cores, with opts' nonzero values kept.

  Every usable core goes to intra-op parallelism: the training step is a chain of ops
  that each can use all of them (oneDNN matmuls). TensorFlow's own defaults size all
  three pools by the cores of the affinity mask, ignoring a cgroup quota: in a container
  limited to 2 of a host's 64 cores, every pool would get 64 threads. Two ops run side
  by side at most (Intel's advice for oneDNN: about one per socket; more only make the
  ops' intra-op work compete for the same cores). The input pipeline gets its own pool
  of a quarter of the cores, at least two. On 2 cores this is what TensorFlow chooses by
  itself: an A/B of one op at a time against two on this project's 2-core machines
  (transformer_tiny steps) found no difference beyond the noise of a shared machine,
  with slow outliers at one."""
  cores = cores or usable_cores()
  return ThreadSettings(
      cores=cores,
      intra_op=opts.intra_op_threads or cores,
      inter_op=opts.inter_op_threads or min(cores, 2),
      input=opts.input_threads or max(min(cores, 2), cores // 4))


_configured = None  # the ThreadSettings this process applied (configure_threads)


def configure_threads(opts=ThreadOptions()):
  """Applies thread_settings(opts) to TensorFlow; call before its runtime starts (before
  the first op). Returns (settings, note): note says why something could not be applied."""
  import tensorflow as tf  # noqa: PLC0415 - keeps `import t2t_lite.machine` light

  global _configured
  settings = thread_settings(opts)
  note = ""
  try:
    tf.config.threading.set_intra_op_parallelism_threads(settings.intra_op)
    tf.config.threading.set_inter_op_parallelism_threads(settings.inter_op)
  except RuntimeError:  # the runtime already started (e.g. inside a test process)
    note = " (TensorFlow had started: its own op pools stay)"
  _configured = settings
  return settings, note


def input_threads():
  """The tf.data private pool size: as configured, else from the usable cores."""
  return (_configured or thread_settings()).input


# -- the compute dtype ------------------------------------------------------------------
def cpu_description():
  """(model name, the SPEED_FLAGS this CPU has)."""
  model, flags = platform.processor() or platform.machine(), set()
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name":
          model = value.strip()
        elif key == "flags":
          flags = set(value.split())
          break
  except OSError:
    pass
  return model, tuple(f for f in SPEED_FLAGS if f in flags)


def machine_key():
  """What the probe's answer depends on: CPU model and flags, accelerators, TF version."""
  import tensorflow as tf  # noqa: PLC0415 - as in configure_threads

  model, flags = cpu_description()
  gpus = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
          for g in tf.config.list_physical_devices("GPU")]
  return " | ".join([model, ",".join(flags) or "-", ";".join(gpus) or "no accelerator",
                     f"tf {tf.__version__}"])


def cache_path():
  """$T2T_LITE_CACHE_DIR/machine.json, else $XDG_CACHE_HOME (or ~/.cache)/t2t_lite/."""
  root = os.environ.get(CACHE_ENV) or os.path.join(
      os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "t2t_lite")
  return os.path.join(root, "machine.json")


def probe_bf16_speedup(rows=256, width=1024, repeats=5, calls=4):
  """float32 time / bfloat16 time of a dense layer's training computation (forward, ReLU,
  gradients of input and kernel) on the default device, as mixed precision runs it
  (bfloat16 compute from float32 weights). The dtypes alternate and each keeps its best
  round, so a machine busy with other work slows both alike. About a second on 2 cores."""
  import tensorflow as tf  # noqa: PLC0415 - as in configure_threads

  x32 = tf.random.stateless_normal([rows, width], seed=[1, 2])
  w = tf.random.stateless_normal([width, width], seed=[3, 4]) * width ** -0.5

  def step(dtype):
    @tf.function
    def run():
      x, kernel = tf.cast(x32, dtype), tf.cast(w, dtype)
      with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        y = tf.nn.relu(tf.matmul(x, kernel))
        y = tf.matmul(y, kernel, transpose_b=True)
        loss = tf.reduce_sum(tf.cast(y, tf.float32))
      dx, dk = tape.gradient(loss, [x, kernel])
      return tf.reduce_sum(tf.cast(dx, tf.float32)) + tf.reduce_sum(tf.cast(dk, tf.float32))
    return run

  runs = {"float32": step(tf.float32), "bfloat16": step(tf.bfloat16)}
  best = {}
  for run in runs.values():
    run().numpy()  # trace and warm up
  for _ in range(repeats):
    for name, run in runs.items():
      start = time.perf_counter()
      for _ in range(calls):
        out = run()
      out.numpy()
      best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
  return best["float32"] / best["bfloat16"]


@dataclasses.dataclass(frozen=True)
class DtypeChoice:
  dtype: str
  bf16_speedup: float
  measured: str  # when the probe ran (UTC, ISO 8601)
  cached: bool   # read from the cache file rather than measured now
  path: str      # the cache file
  note: str = ""  # e.g. why the cache could not be written

  def describe(self):
    how = (f"cached in {self.path}, measured {self.measured}" if self.cached else
           f"measured now; cached in {self.path}")
    return (f"activation_dtype=auto -> {self.dtype} (a bfloat16 training step ran "
            f"{self.bf16_speedup:.2f}x the float32 speed; bfloat16 needs "
            f">= {BF16_MIN_SPEEDUP}x; {how}){self.note}")


def _read_cache(path):
  try:
    with open(path) as f:
      data = json.load(f)
    return data if isinstance(data, dict) else {}
  except (OSError, ValueError):
    return {}  # missing or damaged: measure again and rewrite it


def choose_activation_dtype(probe=None, path=None):
  """The DtypeChoice for activation_dtype=auto on this machine: the cached one, else
  measured now with `probe` (-> bf16 speed-up; default probe_bf16_speedup, looked up when
  called so a test can replace it) and cached."""
  probe, path = probe or probe_bf16_speedup, path or cache_path()
  key = machine_key()
  entries = _read_cache(path)
  entry = entries.get(key)
  if isinstance(entry, dict) and entry.get("activation_dtype") in ("float32", "bfloat16"):
    return DtypeChoice(entry["activation_dtype"], float(entry.get("bf16_speedup", 0.0)),
                       str(entry.get("measured", "?")), True, path)
  speedup = probe()
  dtype = "bfloat16" if speedup >= BF16_MIN_SPEEDUP else "float32"
  measured = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
  entries[key] = {"activation_dtype": dtype, "bf16_speedup": round(speedup, 3),
                  "measured": measured}
  note = ""
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
      json.dump(entries, f, indent=2, sort_keys=True)
    os.replace(tmp, path)  # atomic: concurrent runs never read half a file
  except OSError as e:
    note = f" (WARNING: could not write the cache: {e.strerror}; the probe reruns next time)"
  return DtypeChoice(dtype, round(speedup, 3), measured, False, path, note)
