"""A whole cluster as processes on this machine: every task on a free localhost port,
with its own TF_CONFIG, output relayed with a [task] prefix, and every child gone when
the launcher ends (normally, on an error, on Ctrl-C/SIGTERM, or killed itself).

parameter_server: ps and worker tasks serve; the chief trains. A worker that dies is
reported and training goes on (the coordinator reschedules its steps); the cluster's exit
status is the chief's. multi_worker_mirrored: worker 0 is the chief; if any worker fails
the others are stopped (they could only wait for it), and rerunning the same command
resumes from the last checkpoint.
"""
import ctypes
import json
import signal
import socket
import subprocess
import sys
import threading
import time

from t2t_lite import options
from t2t_lite.options import setting
from t2t_lite.training import cluster

GRACE_SECS = 30  # how long trainers get to save after SIGTERM before they are killed


@options.group()
class LocalClusterOptions(options.Options):
  """t2t-local-cluster's settings."""
  strategy: str = setting(
      cluster.PARAMETER_SERVER, "parameter_server: a chief, --num_workers workers and "
      "--num_ps ps tasks; multi_worker_mirrored: --num_workers workers (worker 0 is the "
      "chief).", choices=(cluster.PARAMETER_SERVER, cluster.MULTI_WORKER))
  num_workers: int = setting(2, "Worker tasks.", minimum=1)
  num_ps: int = setting(1, "Parameter-server tasks (parameter_server only).", minimum=1)


def free_ports(n):
  """n distinct ports that were free a moment ago (held open together, then released)."""
  socks = []
  try:
    for _ in range(n):
      s = socket.socket()
      s.bind(("localhost", 0))
      socks.append(s)
    return [s.getsockname()[1] for s in socks]
  finally:
    for s in socks:
      s.close()


def cluster_spec(strategy, num_workers, num_ps):
  """{job: ["localhost:port", ...]} for the strategy's jobs."""
  jobs = {"worker": num_workers}
  if strategy == cluster.PARAMETER_SERVER:
    jobs = {"chief": 1, "worker": num_workers, "ps": num_ps}
  ports = iter(free_ports(sum(jobs.values())))
  return {job: [f"localhost:{next(ports)}" for _ in range(n)] for job, n in jobs.items()}


def _die_with_parent():
  """In the child: the kernel kills it when the launcher dies, however that happens."""
  try:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
  except (OSError, AttributeError):
    pass  # not Linux: the launcher's own cleanup still runs on every normal exit


class LocalCluster:

  def __init__(self, strategy, num_workers, num_ps, command, env, out=sys.stdout):
    self.strategy, self.command, self.env, self.out = strategy, command, env, out
    self.spec = cluster_spec(strategy, num_workers, num_ps)
    self.procs = {}  # "job:index" -> Popen, in start order
    self._lock = threading.Lock()
    self._threads = []
    self._stopping = False

  def say(self, line):
    with self._lock:
      print(line, file=self.out, flush=True)

  def trainers(self):
    """The tasks that run the training loop (and save on SIGTERM)."""
    job = "chief" if self.strategy == cluster.PARAMETER_SERVER else "worker"
    return [name for name in self.procs if name.startswith(job + ":")]

  def _relay(self, name, proc):
    for line in proc.stdout:
      self.say(f"[{name}] {line.rstrip()}")

  def start(self):
    # Servers first, so the chief finds them; the trainers last.
    order = [j for j in ("ps", "worker", "chief") if j in self.spec]
    for job in order:
      for index, address in enumerate(self.spec[job]):
        name = f"{job}:{index}"
        tf_config = {"cluster": self.spec, "task": {"type": job, "index": index}}
        proc = subprocess.Popen(
            self.command, env=dict(self.env, TF_CONFIG=json.dumps(tf_config)),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops them in order
            preexec_fn=_die_with_parent)
        self.procs[name] = proc
        self.say(f"t2t-local-cluster: started {name} (pid {proc.pid}) at {address}")
        thread = threading.Thread(target=self._relay, args=(name, proc), daemon=True)
        thread.start()
        self._threads.append(thread)

  def wait(self):
    """Waits for the trainers; returns the cluster's exit status."""
    reported = set()
    while True:
      for name, proc in self.procs.items():
        code = proc.poll()
        if code is None or name in reported:
          continue
        reported.add(name)
        trainer = name in self.trainers()
        if self.strategy == cluster.PARAMETER_SERVER and not trainer:
          self.say(f"t2t-local-cluster: {name} exited ({_status(code)})" +
                   ("; training goes on, its steps are rescheduled on the other workers"
                    if name.startswith("worker") else ""))
        elif self.strategy == cluster.MULTI_WORKER and code != 0 and not self._stopping:
          self.say(f"t2t-local-cluster: {name} failed ({_status(code)}); stopping the "
                   "others. Rerun the same command to resume from the last checkpoint.")
          self.stop()
          return code
      codes = [self.procs[n].poll() for n in self.trainers()]
      if all(c is not None for c in codes):
        return next((c for c in codes if c != 0), 0)
      time.sleep(0.2)

  def stop(self):
    """SIGTERM to the trainers (they save), then everything is killed."""
    self._stopping = True
    for name in self.trainers():
      _signal(self.procs[name], signal.SIGTERM)
    deadline = time.time() + GRACE_SECS
    for name in self.trainers():
      try:
        self.procs[name].wait(timeout=max(deadline - time.time(), 0.1))
      except subprocess.TimeoutExpired:
        pass
    self.kill_all()

  def kill_all(self):
    for proc in self.procs.values():
      _signal(proc, signal.SIGKILL)
    for proc in self.procs.values():
      proc.wait()
    for thread in self._threads:
      thread.join(timeout=5)

  def run(self):
    """Starts the cluster and waits for it; stops it on SIGTERM or Ctrl-C (a second one
    kills at once). Returns the exit status."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
      self.start()
      return self.wait()
    except KeyboardInterrupt:
      self.say("t2t-local-cluster: stopping: the trainers save a checkpoint, then every task "
               "is killed (interrupt again to kill at once)")
      try:
        self.stop()
      except KeyboardInterrupt:
        pass
      return 130
    finally:
      self.kill_all()
      signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum, frame):
  raise KeyboardInterrupt


def _signal(proc, sig):
  if proc.poll() is None:
    try:
      proc.send_signal(sig)
    except ProcessLookupError:
      pass


def _status(code):
  return f"signal {-code}" if code < 0 else f"status {code}"
