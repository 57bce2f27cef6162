"""Running the installed binaries as a user would, in subprocesses."""
import os
import subprocess
import sys

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")

# Tiny enough that a few steps take seconds on 2 CPU cores.
TINY = ("batch_size=256,hidden_size=32,filter_size=64,num_heads=2,num_hidden_layers=1,"
        "learning_rate_warmup_steps=10")


def binary(name):
  """The console script next to this Python, or the module's main."""
  script = os.path.join(os.path.dirname(sys.executable), name)
  if os.path.exists(script):
    return [script]
  return [sys.executable, "-m", "t2t_lite.bin." + name.replace("-", "_")]


def run(name, *args, check=True, timeout=300, **kwargs):
  proc = subprocess.run(binary(name) + list(args), capture_output=True, text=True,
                        env=ENV, timeout=timeout, **kwargs)
  if check and proc.returncode != 0:
    raise AssertionError(f"{name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
  return proc


def start(name, *args, **kwargs):
  return subprocess.Popen(binary(name) + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=ENV, **kwargs)


def error_lines(stderr):
  """stderr lines that are not TensorFlow's own start-up chatter."""
  return [l for l in stderr.splitlines() if l.strip() and not l.startswith(("WARNING: All log",
                                                                             "I0000", "E0000",
                                                                             "W0000"))]
