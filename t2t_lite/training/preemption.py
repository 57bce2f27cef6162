"""SIGTERM / SIGINT -> a request to stop at the next step boundary.

Cluster schedulers preempt with SIGTERM and a grace period; the trainer saves a checkpoint
at the next step boundary and exits 0, and rerunning the same command resumes. A second
signal exits at once, even while a compiled step blocks the main thread: a watcher thread
learns of signals through the interpreter's wakeup file descriptor.
"""
import os
import signal
import socket
import sys
import threading


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
