"""SIGTERM becomes a request to stop at the next step boundary."""
import os
import signal

from t2t_lite.training.preemption import StopRequest


def test_a_signal_is_remembered_and_the_handlers_restored():
  before = signal.getsignal(signal.SIGTERM)
  with StopRequest() as stop:
    assert not stop
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop and stop.signal_name == "SIGTERM"
  assert signal.getsignal(signal.SIGTERM) is before
