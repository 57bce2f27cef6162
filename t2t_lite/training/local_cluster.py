"""A whole cluster as processes on this machine: every task on a free localhost port,
with its own TF_CONFIG, output relayed with a [task] prefix, and every child gone when
the launcher ends (normally, on an error, on Ctrl-C/SIGTERM, or killed itself).

parameter_server: ps and worker tasks serve; the chief trains. A worker that dies is
reported and training goes on (the coordinator reschedules its steps); the cluster's exit
status is the chief's. multi_worker_mirrored: worker 0 (or --chief's task) is the chief;
without a restart policy, if any worker fails the others are stopped (they could only wait
for it), and rerunning the same command resumes from the last checkpoint.

A restart policy restarts a task that exits before its work is done, as Kubeflow's TFJob
does (--restart_policy: on_failure restarts on any non-zero status, exit_code on the
retryable ones, 128-255: killed by a signal, or a trainer that stopped for a restart). A
multi-worker task whose peer failed exits for a restart itself, so the whole cluster comes
back and resumes from the last checkpoint; a ps task that failed takes the chief with it
(the variables it held are gone) and both come back. At most --backoff_limit restarts.
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
from t2t_lite.training import cluster, preemption

GRACE_SECS = 30  # how long trainers get to save after SIGTERM before they are killed
RESTART_DELAY_SECS = 1.0  # a failed task comes back after this long (the operator's pace)
STOP_CAUSE_SECS = 1.0  # how long a stopped task waits for the failure that caused it to show


@options.group("LocalCluster")
class LocalClusterOptions(cluster.ClusterShape):
  """t2t-local-cluster's settings."""
  strategy: str = setting(
      cluster.PARAMETER_SERVER, "parameter_server: a chief, --num_workers workers and "
      "--num_ps ps tasks; multi_worker_mirrored: --num_workers workers (worker 0 is the "
      "chief, unless --chief adds one).", choices=(cluster.PARAMETER_SERVER,
                                                    cluster.MULTI_WORKER))


def exit_status(code):
  """A Popen return code as a shell reports it (killed by signal N: 128 + N)."""
  return 128 - code if code < 0 else code


def restartable(policy, code):
  if policy == "on_failure":
    return code != 0
  if policy == "exit_code":
    return exit_status(code) >= 128
  return False


def _cause_first(exited):
  """Sort key of (name, process, status): failures, then stops, then finished tasks (a
  task that finished meanwhile must not keep a stopped peer from its restart)."""
  status = exited[2]
  return 2 if status == 0 else 1 if status == preemption.RESTART_EXIT_STATUS else 0


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


def cluster_spec(strategy, num_workers, num_ps, chief=False):
  """{job: ["localhost:port", ...]} for the strategy's jobs."""
  jobs = {"chief": 1, "worker": num_workers} if chief else {"worker": num_workers}
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

  def __init__(self, strategy, shape: cluster.ClusterShape, command, env, out=sys.stdout):
    self.strategy, self.command, self.env, self.out = strategy, command, env, out
    self.restart_policy, self.backoff_limit = shape.restart_policy, shape.backoff_limit
    self.spec = cluster_spec(strategy, shape.num_workers, shape.num_ps, shape.chief)
    self.procs = {}  # "job:index" -> its current Popen, in start order
    self.restarts = 0
    self._lock = threading.Lock()
    self._threads = []
    self._stopping = False

  def say(self, line):
    with self._lock:
      print(line, file=self.out, flush=True)

  def trainers(self):
    """The tasks that run the training loop (and save on SIGTERM)."""
    jobs = ("chief",) if self.strategy == cluster.PARAMETER_SERVER else ("chief", "worker")
    return [name for name in self.procs if name.split(":")[0] in jobs]

  def _relay(self, name, proc):
    for line in proc.stdout:
      self.say(f"[{name}] {line.rstrip()}")

  def start(self):
    # Servers first, so the chief finds them; the trainers last.
    order = [j for j in ("ps", "worker", "chief") if j in self.spec]
    for job in order:
      for index in range(len(self.spec[job])):
        self._start_task(job, index)

  def _start_task(self, job, index):
    name = f"{job}:{index}"
    tf_config = {"cluster": self.spec, "task": {"type": job, "index": index}}
    proc = subprocess.Popen(
        self.command, env=dict(self.env, TF_CONFIG=json.dumps(tf_config)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        start_new_session=True,  # Ctrl-C reaches the launcher, which stops them in order
        preexec_fn=_die_with_parent)
    self.procs[name] = proc
    self.say(f"t2t-local-cluster: started {name} (pid {proc.pid}) at "
             f"{self.spec[job][index]}")
    thread = threading.Thread(target=self._relay, args=(name, proc), daemon=True)
    thread.start()
    self._threads.append(thread)

  def _restart(self, name, code, done):
    """Restarts a task that exited with `code`, if the policy and the limit allow and
    its work is not done; returns whether it did."""
    if self._stopping or not restartable(self.restart_policy, code):
      return False
    if self.strategy == cluster.MULTI_WORKER and done:
      return False  # a finished peer will not come back to meet it
    if self.restarts >= self.backoff_limit:
      self.say(f"t2t-local-cluster: {name} exited ({_status(code)}) after "
               f"{self.restarts} restarts: --backoff_limit={self.backoff_limit} reached")
      return False
    self.restarts += 1
    self.say(f"t2t-local-cluster: {name} exited ({_status(code)}); restarting it (restart "
             f"{self.restarts} of at most {self.backoff_limit})")
    time.sleep(RESTART_DELAY_SECS)
    job, index = name.split(":")
    self._start_task(job, int(index))
    return True

  def wait(self):
    """Waits for the trainers (restarting tasks as the policy says); returns the
    cluster's exit status."""
    reported = set()  # the processes already dealt with
    done = set()  # trainers that finished their work (status 0)
    while True:
      exited = self._exited(reported)
      if any(code == preemption.RESTART_EXIT_STATUS for _, _, code in exited):
        # A task that lost a peer stops moments after the peer died (sometimes before
        # the peer's exit is visible): the peer's failure is the cause to report first.
        time.sleep(STOP_CAUSE_SECS)
        exited = sorted(self._exited(reported), key=_cause_first)
      for name, proc, code in exited:
        reported.add(proc)
        trainer = name in self.trainers()
        if code == 0 and trainer:
          done.add(name)
          continue
        if self._restart(name, code, done):
          continue
        if self.strategy == cluster.PARAMETER_SERVER and not trainer:
          self.say(f"t2t-local-cluster: {name} exited ({_status(code)})" +
                   ("; training goes on, its steps are rescheduled on the other workers"
                    if name.startswith("worker") else ""))
        elif self.strategy == cluster.MULTI_WORKER and code != 0 and not self._stopping:
          what = "stopped" if code == preemption.RESTART_EXIT_STATUS else "failed"
          self.say(f"t2t-local-cluster: {name} {what} ({_status(code)}); stopping the "
                   "others. Rerun the same command to resume from the last checkpoint.")
          self.stop()
          return exit_status(code)
        elif trainer and self.strategy == cluster.PARAMETER_SERVER:  # the chief failed
          return exit_status(code)
      if set(self.trainers()) <= done:
        return 0
      time.sleep(0.2)

  def _exited(self, reported):
    """(name, process, exit status) of the tasks that exited and are not yet reported."""
    polled = [(name, proc, proc.poll()) for name, proc in list(self.procs.items())
              if proc not in reported]
    return [e for e in polled if e[2] is not None]

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
