"""Running the installed binaries as a user would, in subprocesses."""
import functools
import json
import os
import subprocess
import sys
import tempfile
import time

from tests import forkserver

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")

# T2T_TESTS_FORK=0 starts every binary as a fresh interpreter (slower by ~7 s of CPU a
# run; for checking that a test does not depend on the fork server).
FORK = os.environ.get("T2T_TESTS_FORK", "1") != "0"

# Tiny enough that a few steps take seconds on 2 CPU cores.
TINY = ("batch_size=256,hidden_size=32,filter_size=64,num_heads=2,num_hidden_layers=1,"
        "learning_rate_warmup_steps=10")

# Without dropout and with a short warmup, transformer_tiny learns the synthetic language
# within ~500 steps of 1024 tokens. Half its learning rate: at the full rate (a peak of
# 0.0125 after 200 warmup steps) the loss spiked, and held-out BLEU swung between 50 and
# 90 with float rounding (a change in the order of a sum's terms); at half it reached 99.8.
FAST = ("batch_size=1024,learning_rate_warmup_steps=200,learning_rate_constant=1.0,"
        "layer_prepostprocess_dropout=0,attention_dropout=0,relu_dropout=0")


def tiny_sweep_file(path, problem, data_dir, train_steps, extra, hparams=TINY):
  """A t2t-sweep file: a [base] section training transformer_tiny with `hparams` for
  train_steps (evaluating every 10), then `extra` (the grid, zip or search sections)."""
  tiny = "\n".join(f"hparams.{kv.split('=')[0]} = {kv.split('=')[1]}"
                   for kv in hparams.split(","))
  path.write_text(f"""
[base]
experiment.problem = "{problem}"
experiment.model = "transformer"
experiment.hparams_set = "transformer_tiny"
experiment.data_dir = "{data_dir}"
{tiny}
Trainer.train_steps = {train_steps}
Trainer.local_eval_frequency = 10
Trainer.eval_steps = 2
Trainer.log_step_count_steps = 10
{extra}""")
  return str(path)


def write_lines(path, lines):
  path.write_text("".join(line + "\n" for line in lines))
  return str(path)


def binary(name):
  """The console script next to this Python, or the module's main."""
  script = os.path.join(os.path.dirname(sys.executable), name)
  if os.path.exists(script):
    return [script]
  return [sys.executable, "-m", "t2t_lite.bin." + name.replace("-", "_")]


@functools.cache
def fork_server():
  """This test process's fork server (tests/forkserver.py), started on first use."""
  return forkserver.Server(ENV)


@functools.cache
def tensorflow_fork_server():
  """A fork server that has imported TensorFlow but not t2t_lite."""
  return forkserver.Server(ENV, tensorflow_only=True)


def launcher(name):
  """`name` started by the fork server: a fresh process of the binary without the ~7 s
  of importing TensorFlow (tests/forkserver.py)."""
  return [fork_server().launcher(name)] if FORK else binary(name)


def python_c():
  """`python -c` as the fork server runs it (tests/forkserver.py), or Python itself."""
  return [fork_server().launcher(forkserver.PYTHON)] if FORK else [sys.executable, "-c"]


def python_c_without_t2t_lite():
  """`python -c` in a process that has not imported t2t_lite (a fork of a Python that
  imported only TensorFlow), or Python itself."""
  if not FORK:
    return [sys.executable, "-c"]
  return [tensorflow_fork_server().launcher(forkserver.PYTHON)]


def _command(name, forked, kwargs):
  """(command, through the fork server?): the binary's launcher, or its console script when
  the test needs the binary's own process (forked=False, or a preexec_fn: it applies to the
  process subprocess starts), or when the fork server is off (T2T_TESTS_FORK=0)."""
  if FORK and forked and "preexec_fn" not in kwargs:
    return launcher(name), True
  return binary(name), False


def run(name, *args, check=True, timeout=300, **kwargs):
  """Runs a binary to its end; returns the CompletedProcess (text stdout and stderr)."""
  command, _ = _command(name, True, kwargs)
  proc = subprocess.run(command + list(args), capture_output=True, text=True, env=ENV,
                        timeout=timeout, **kwargs)
  if check and proc.returncode != 0:
    raise AssertionError(f"{name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
  return proc


class Launched(subprocess.Popen):
  """A binary started through its launcher. The launcher passes signals on and takes the
  binary with it when killed, but a SIGKILLed launcher ends before its binary does (the
  server kills the binary once it sees the launcher gone): wait() returns only once the
  binary has ended too, as for a binary started directly, so a test may reuse its
  output_dir at once."""

  def __init__(self, args, **kwargs):
    self.pid_file = os.path.join(tempfile.mkdtemp(prefix="t2t-launched-"), "pid")
    kwargs["env"] = {**kwargs.get("env", ENV), forkserver.PID_FILE_ENV: self.pid_file}
    super().__init__(args, **kwargs)

  def wait(self, timeout=None):
    code = super().wait(timeout)
    deadline = time.time() + 30
    while os.path.exists(self.pid_file) and time.time() < deadline:
      try:
        os.kill(int(open(self.pid_file).read()), 0)
      except ProcessLookupError:  # reaped by the server: gone
        break
      time.sleep(0.02)
    return code


def start(name, *args, forked=True, **kwargs):
  """A binary in the background, its output piped. forked=False when the test needs the
  binary's own pid (a lock names it); otherwise the pid is its launcher's, which passes
  signals on and takes the binary with it when killed (tests/forkserver.py)."""
  command, launched = _command(name, forked, kwargs)
  popen = Launched if launched else subprocess.Popen
  return popen(command + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
               text=True, env=ENV, **kwargs)


def error_lines(stderr):
  """stderr lines that are not TensorFlow's own start-up chatter."""
  return [l for l in stderr.splitlines() if l.strip() and not l.startswith(("WARNING: All log",
                                                                             "I0000", "E0000",
                                                                             "W0000"))]


# Loads a SavedModel in a fresh Python that may not import t2t_lite, runs one signature on
# JSON inputs and prints its outputs as JSON.
_LOAD_EXPORT = """
import json, sys
class NoT2tLite:
  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] == "t2t_lite":
      raise ImportError("an exported model must not need t2t_lite")
sys.meta_path.insert(0, NoT2tLite())
import numpy as np
import tensorflow as tf
for extra in sys.argv[4:]:
  __import__(extra)
fn = tf.saved_model.load(sys.argv[1]).signatures[sys.argv[2]]
def value(v):  # {"files": [paths]} stands for the files' bytes
  return [open(p, "rb").read() for p in v["files"]] if isinstance(v, dict) else v
args = {k: tf.constant(value(v)) for k, v in json.load(open(sys.argv[3])).items()}
out = {k: v.numpy().tolist() for k, v in fn(**args).items()}
out = {k: [x.decode() if isinstance(x, bytes) else x for x in v] for k, v in out.items()}
print(json.dumps(out))
"""


def load_export(export_dir, signature, inputs, *imports):
  """The outputs of an exported model's signature, computed by a process without t2t_lite
  (only TensorFlow and the given modules, e.g. tensorflow_text). An input given as
  {"files": [paths]} is passed as those files' bytes."""
  inputs_file = export_dir.rstrip("/") + f".{signature}.inputs.json"
  with open(inputs_file, "w") as f:
    json.dump(inputs, f)
  proc = subprocess.run(python_c_without_t2t_lite() + [_LOAD_EXPORT, export_dir, signature,
                                                      inputs_file, *imports],
                        capture_output=True, text=True, env=ENV, timeout=300)
  if proc.returncode != 0:
    raise AssertionError(f"loading {export_dir} failed:\n{proc.stderr[-3000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])
