"""SIGTERM / SIGINT -> a request to stop at the next step boundary.

Cluster schedulers preempt with SIGTERM and a grace period; the trainer saves a checkpoint
at the next step boundary and exits 0, and rerunning the same command resumes. A second
SIGINT (Ctrl-C pressed twice) interrupts at once.
"""
import signal
import threading


class StopRequest:

  def __init__(self, signals=(signal.SIGTERM, signal.SIGINT)):
    self.signals = signals
    self.signal_name = None
    self._previous = {}

  def __bool__(self):
    return self.signal_name is not None

  def _handler(self, signum, frame):
    if self.signal_name is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.signal_name = signal.Signals(signum).name

  def __enter__(self):
    # Handlers can only be installed from the main thread (tests may train elsewhere).
    if threading.current_thread() is threading.main_thread():
      for sig in self.signals:
        self._previous[sig] = signal.signal(sig, self._handler)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}
    return False
