"""Compiles t2t_lite's custom TensorFlow ops (the .cc files beside this one) on first use and
loads them.

Each op library is built with the installed TensorFlow's own compile and link flags
(tf.sysconfig) by the C++ compiler on PATH ($CXX, else g++), for the CPU it runs on
(-march=native), once per source, TensorFlow version, compiler and CPU, into the cache
directory machine.py uses ($T2T_LITE_CACHE_DIR, else ~/.cache/t2t_lite/, then ops/).
Processes that start together build it once (a file lock); later ones load the cached
library (about 10 s to build on 2 cores). Where it cannot be built (no compiler, a failing
build), `load` returns None and prints one line saying why: callers fall back to
TensorFlow ops, with the same results.
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import threading

from absl import logging

from t2t_lite import machine

_HERE = os.path.dirname(os.path.abspath(__file__))
_LOADED = {}  # source name -> loaded module (or None when it could not be built)
# One build, one module and one message per process, also when MirroredStrategy's replica
# threads first trace dropout at once.
_LOADING = threading.Lock()


def _compiler():
  """The compiler's name ($CXX, else g++): part of the cached library's identity."""
  return os.environ.get("CXX") or "g++"


def library_path(source, tf):
  """Where the library built from `source` (a .cc file beside this module) is cached."""
  with open(os.path.join(_HERE, source), "rb") as fh:
    digest = hashlib.sha256(fh.read())
  digest.update(tf.__version__.encode())
  digest.update(" ".join(tf.sysconfig.get_compile_flags()).encode())
  digest.update(_compiler().encode())
  # Built for this CPU (-march=native): a cache shared between machines keeps one per CPU.
  model, flags = machine.cpu_description()
  digest.update(f"{model} {' '.join(flags)}".encode())
  name = os.path.splitext(source)[0]
  return os.path.join(os.path.dirname(machine.cache_path()), "ops",
                      f"{name}-{digest.hexdigest()[:16]}.so")


def _build(source, target, tf):
  compiler = shutil.which(_compiler())
  if not compiler:
    raise RuntimeError(f"no C++ compiler {_compiler()!r} on PATH (set $CXX or install g++)")
  command = ([compiler, "-shared", "-fPIC", "-O3", "-march=native", "-w",
              os.path.join(_HERE, source), "-o", target + ".tmp"] +
             tf.sysconfig.get_compile_flags() + tf.sysconfig.get_link_flags())
  proc = subprocess.run(command, capture_output=True, text=True)
  if proc.returncode != 0:
    if os.path.exists(target + ".tmp"):
      os.remove(target + ".tmp")
    lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
    first = next((line for line in lines if "error" in line), lines[0])
    raise RuntimeError(f"{command[0]} failed: {first.strip()[:300]}")
  os.replace(target + ".tmp", target)  # atomic: a reader never sees half a library


def load(source):
  """The op module of `source` (tf.load_op_library), built first if needed; None where it
  cannot be built here (said once, on stderr)."""
  with _LOADING:
    if source not in _LOADED:
      _LOADED[source] = _build_and_load(source)
    return _LOADED[source]


def _build_and_load(source):
  import tensorflow as tf  # noqa: PLC0415 - TensorFlow only once an op is built or loaded
  module = None
  try:
    target = library_path(source, tf)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target + ".lock", "w") as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)  # one build for processes that start together
      if not os.path.exists(target):
        logging.info("building %s into %s (once per TensorFlow version)", source, target)
        _build(source, target, tf)
    module = tf.load_op_library(target)
  except (OSError, RuntimeError, tf.errors.NotFoundError) as e:
    print(f"t2t_lite: custom op {source} unavailable ({e}); using TensorFlow ops instead",
          file=sys.stderr)
  return module
