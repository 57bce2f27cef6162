"""SIGTERM / SIGINT -> a request to stop at the next step boundary.

Cluster schedulers preempt with SIGTERM and a grace period; the trainer saves a checkpoint
at the next step boundary and exits 0, and rerunning the same command resumes. A second
signal exits at once, even while a compiled step blocks the main thread: a watcher thread
learns of signals through the interpreter's wakeup file descriptor.

In a multi-process cluster a task also stops when another task fails or restarts (its
collectives or RPCs fail): it raises TaskLost, and the binary exits with
RESTART_EXIT_STATUS so that the cluster's restart policy starts it again; every task then
resumes from the last checkpoint.
"""
import contextlib
import os
import re
import signal
import socket
import sys
import threading

import tensorflow as tf

# The exit status of a task that stopped before train_steps and must be started again
# (after a cluster-wide save, or a lost peer). Kubeflow's ExitCode restart policy retries
# statuses 128-255 and fails the job on 1-127 (a UserError's 2 is a mistake, not worth a
# retry); t2t-local-cluster's policies do the same. 143 is 128 + SIGTERM.
RESTART_EXIT_STATUS = 143

# What TensorFlow raises in a task whose peer died or restarted: collectives aborted by
# the coordination service (a peer stopped its heartbeats, or came back with a new
# incarnation), failed or cancelled RPCs.
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.AbortedError,
               tf.errors.CancelledError, tf.errors.DeadlineExceededError)
# An INTERNAL status that a remote task returned over gRPC (TensorFlow then appends
# "Additional GRPC error information from remote target ..."): a failed RPC, not a bug of
# this task. Seen in CI once as a worker's "Unable to parse request" at a parameter-server
# run's first step; a restart resumes, as after a lost peer.
_REMOTE_RPC_FAILURE = "Additional GRPC error information from remote target"


def is_peer_error(error) -> bool:
  """Whether a TensorFlow error says a peer failed, restarted or failed an RPC."""
  return isinstance(error, PEER_ERRORS) or (
      isinstance(error, tf.errors.InternalError)
      and _REMOTE_RPC_FAILURE in (error.message or ""))


class TaskLost(Exception):
  """Another task of the cluster failed or restarted; this one cannot go on and exits
  with RESTART_EXIT_STATUS (its message is one line)."""


@contextlib.contextmanager
def peer_failures_lose_the_task(what):
  """Turns a peer's errors (is_peer_error) raised inside into TaskLost('what: the error's
  first line')."""
  try:
    yield
  except tf.errors.OpError as e:
    if not is_peer_error(e):
      raise
    raise TaskLost(f"{what}: {_cause(e)}") from None


def _cause(error):
  """The line of a TensorFlow error that says what happened (its message starts with
  'Graph execution error:' and the op's Python traceback)."""
  noise = ("Graph execution error", "Detected at node", "File ", "[[", "defined at")
  lines = [line.strip() for line in (error.message or "").splitlines() if line.strip()]
  lines = [line for line in lines
           if not line.startswith(noise) and not re.match(r"\d+ root error\(s\) found", line)]
  return lines[0][:200] if lines else type(error).__name__


class StopRequest:

  def __init__(self, signals=(signal.SIGTERM, signal.SIGINT)):
    self.signals = signals
    self.signal_name = None
    self._previous = {}
    self._wakeup = None
    self._old_wakeup_fd = -1

  def __bool__(self):
    return self.signal_name is not None

  def _handler(self, signum, frame):
    if self.signal_name is None:
      self.signal_name = signal.Signals(signum).name

  def _watch(self, reader):
    count = 0
    while True:
      try:
        data = reader.recv(16)
      except OSError:
        return
      if not data:
        return
      count += len(data)
      if count >= 2:
        sys.stderr.write("second signal: exiting now without saving; the last checkpoint "
                         "is intact\n")
        sys.stderr.flush()
        os._exit(130)

  def __enter__(self):
    # Handlers can only be installed from the main thread (tests may train elsewhere).
    if threading.current_thread() is not threading.main_thread():
      return self
    for sig in self.signals:
      self._previous[sig] = signal.signal(sig, self._handler)
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    self._wakeup = (reader, writer)
    self._old_wakeup_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    threading.Thread(target=self._watch, args=(reader,), daemon=True).start()
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}
    if self._wakeup:
      signal.set_wakeup_fd(self._old_wakeup_fd)
      for s in self._wakeup:
        s.close()
      self._wakeup = None
    return False
