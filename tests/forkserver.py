"""Starts the t2t-* binaries for the tests as forks of a Python that has already imported
TensorFlow, Keras and t2t_lite, instead of as fresh interpreters.

Why: a t2t-* process spends about 7 s of CPU importing TensorFlow and Keras before it
reads its first flag, and the suite starts hundreds of them. Forking a process that holds
those imports costs milliseconds. TensorFlow's runtime (its thread pools, the eager
context) starts with the first op, which the server never runs, so the fork is safe.

What a test gets is the binary as a user runs it: the same console-script entry point with
the caller's argv, working directory, environment and stdin/stdout/stderr (passed as file
descriptors), in a process of its own, whose exit status (or signal) comes back as the
caller's own. The caller is a launcher script (`launcher_dir()/t2t-trainer`, ...) that
Python starts in about 20 ms without site packages, so `subprocess.run`, shell pipelines
and PATH lookups work unchanged; killing the launcher kills the binary's process group.

Protocol, one Unix-socket connection per run: the launcher sends one JSON line {"argv",
"cwd", "env"} with its fds 0-2 attached; the server forks a supervisor, which forks the
binary's process and replies {"pid": N}, then {"status": waitpid status} when it ends.

  python -m tests.forkserver SOCKET [--tensorflow_only]   # serves until killed (Server
                                                         # below starts it)

With --tensorflow_only the server imports TensorFlow and nothing of t2t_lite: for the
scripts that check that an exported model loads without t2t_lite.
"""
import atexit
import gc
import importlib
import importlib.metadata
import json
import os
import pkgutil
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

# What the binaries import: the heavy libraries, then every t2t_lite module (the built-in
# registrations too, as experiment.load_registrations would) except the binaries' own:
# importing t2t_lite.bin.* here would define every binary's flags in every binary.
LIBRARIES = ("tensorflow", "keras", "numpy", "gin", "sentencepiece", "sacrebleu",
             "tensorflow_datasets")
PACKAGES = ("t2t_lite", "t2t_lite.hparams", "t2t_lite.models", "t2t_lite.problems")
SKIPPED = ("t2t_lite.bin",)

# A launcher: tiny, stdlib only (`python -S`), so it starts in milliseconds.
_LAUNCHER = r'''#!{python} -S
import json, os, signal, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect({socket_path!r})
request = {{"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)}}
socket.send_fds(sock, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
replies = sock.makefile("r")
pid = json.loads(replies.readline())["pid"]
for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
  signal.signal(signum, lambda s, _: os.kill(pid, s))
status = json.loads(replies.readline())["status"]
if os.WIFSIGNALED(status):
  signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
  os.kill(os.getpid(), os.WTERMSIG(status))
sys.exit(os.WEXITSTATUS(status))
'''


# The launcher that stands for `python -c CODE ARGS` (the tests' measuring scripts).
PYTHON = "python-c"
# In a launcher's environment: the file where the server writes the binary's pid (and
# which the binary's environment does not get), so that a test that kills the launcher can
# wait for the binary too (helpers.start).
PID_FILE_ENV = "T2T_FORK_PID_FILE"


def console_scripts():
  """{name: entry point} of t2t_lite's installed binaries."""
  return {ep.name: ep for ep in importlib.metadata.entry_points(group="console_scripts")
          if ep.value.startswith("t2t_lite.")}


class Server:
  """A fork server in a process of its own, and a folder of launchers that run through it."""

  def __init__(self, env, tensorflow_only=False):
    self.dir = tempfile.mkdtemp(prefix="t2t-forkserver-")
    self.socket_path = os.path.join(self.dir, "socket")
    self.log = open(os.path.join(self.dir, "server.log"), "w")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    command = [sys.executable, "-m", "tests.forkserver", self.socket_path]
    self.proc = subprocess.Popen(command + ["--tensorflow_only"] * tensorflow_only, cwd=root,
                                 env=env, stdin=subprocess.DEVNULL, stdout=self.log,
                                 stderr=subprocess.STDOUT)
    self.launchers = os.path.join(self.dir, "bin")
    os.makedirs(self.launchers)
    for name in [*console_scripts(), PYTHON]:
      path = os.path.join(self.launchers, name)
      with open(path, "w") as f:
        f.write(_LAUNCHER.format(python=sys.executable, socket_path=self.socket_path))
      os.chmod(path, 0o755)
    atexit.register(self.stop)

  def wait_ready(self, timeout=300):
    """Blocks until the server has its imports done (its socket appears)."""
    deadline = time.time() + timeout
    while not os.path.exists(self.socket_path):
      if self.proc.poll() is not None or time.time() > deadline:
        self.log.flush()
        raise RuntimeError("the tests' fork server did not start: "
                           + open(self.log.name).read()[-3000:])
      time.sleep(0.05)

  def launcher(self, name):
    self.wait_ready()
    return os.path.join(self.launchers, name)

  def stop(self):
    if self.proc.poll() is None:
      self.proc.kill()
      self.proc.wait()


def _preimport(tensorflow_only):
  names = ["tensorflow", "numpy"] if tensorflow_only else list(LIBRARIES)
  for package in () if tensorflow_only else PACKAGES:
    path = importlib.import_module(package).__path__
    names += [m.name for m in pkgutil.walk_packages(path, package + ".")
              if not m.name.startswith(SKIPPED)]
  for name in names:
    try:
      importlib.import_module(name)
    except ImportError:  # an optional extra that is not installed: the binary will say so
      pass


def serve(socket_path, tensorflow_only=False):
  """Accepts runs until killed. Returns only in a binary's own (forked) process, with its
  request; the caller then runs the binary at the top level, so the process ends as a
  fresh one would (atexit handlers, buffered output)."""
  _preimport(tensorflow_only)
  # Python's documented pre-fork idiom: the imported objects move out of the collector's
  # reach, so the forks neither copy their pages by scanning them nor spend a second or
  # two collecting them at exit (finalization still runs as in a fresh process).
  gc.freeze()
  listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
  listener.bind(socket_path + ".tmp")
  listener.listen(64)
  os.rename(socket_path + ".tmp", socket_path)  # appears only once it accepts
  signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
  while True:
    conn, _ = listener.accept()
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() == 0:
      listener.close()
      signal.signal(signal.SIGCHLD, signal.SIG_DFL)
      return _supervise(conn)
    conn.close()


def _supervise(conn):
  """Forks the binary's process, tells the launcher its pid and then its exit status;
  kills its process group if the launcher goes away first."""
  line, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
  while not line.endswith(b"\n"):
    more = conn.recv(1 << 20)
    if not more:  # the launcher went away before its whole request
      os._exit(1)
    line += more
  request = json.loads(line)
  pid_file = request["env"].pop(PID_FILE_ENV, None)
  pid = os.fork()
  if pid == 0:
    conn.close()
    os.setpgid(0, 0)
    for target, fd in enumerate(fds):
      os.dup2(fd, target)
      os.close(fd)
    return request
  for fd in fds:
    os.close(fd)
  if pid_file:
    with open(pid_file + ".tmp", "w") as f:
      f.write(str(pid))
    os.rename(pid_file + ".tmp", pid_file)
  conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
  pidfd = os.pidfd_open(pid)
  while True:
    ready, _, _ = select.select([conn, pidfd], [], [])
    if pidfd in ready:
      break
    if not conn.recv(1):  # the launcher was killed: so is its binary
      os.killpg(pid, signal.SIGKILL)
  _, status = os.waitpid(pid, 0)
  try:
    conn.sendall(json.dumps({"status": status}).encode() + b"\n")
  except OSError:
    pass
  os._exit(0)


def run_binary(request):
  """Runs the requested console script in this (forked) process, as its own main."""
  os.chdir(request["cwd"])
  os.environ.clear()
  os.environ.update(request["env"])
  sys.argv = list(request["argv"])
  if "numpy" in sys.modules:  # a fresh process would draw its own seed
    sys.modules["numpy"].random.seed()
  name = os.path.basename(sys.argv[0])
  # sys.path[0] is the script's folder, as for a console script (`python -c`: the cwd),
  # not the server's (the repository, where `import problems` would find the wrong one).
  sys.path[0] = "" if name == PYTHON else os.path.dirname(sys.argv[0])
  if name == PYTHON:  # as `python -c CODE ARGS` would: sys.argv is ["-c", ARGS...]
    code = sys.argv[1]
    sys.argv = ["-c"] + sys.argv[2:]
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102
    sys.exit(0)
  sys.exit(console_scripts()[name].load()())


if __name__ == "__main__":
  run_binary(serve(sys.argv[1], tensorflow_only="--tensorflow_only" in sys.argv[2:]))
