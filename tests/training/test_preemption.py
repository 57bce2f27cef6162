"""SIGTERM becomes a request to stop at the next step boundary; a peer's failure in a
cluster loses the task (it exits to be restarted)."""
import os
import signal

import pytest
import tensorflow as tf

from t2t_lite.training.preemption import (
  StopRequest,
  TaskLost,
  is_peer_error,
  peer_failures_lose_the_task,
)


def test_a_signal_is_remembered_and_the_handlers_restored():
  before = signal.getsignal(signal.SIGTERM)
  with StopRequest() as stop:
    assert not stop
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop and stop.signal_name == "SIGTERM"
  assert signal.getsignal(signal.SIGTERM) is before


def _internal(message):
  return tf.errors.InternalError(None, None, message)


def test_a_remote_tasks_failed_rpc_loses_the_task_and_other_errors_stay():
  remote = _internal(
      "2 root error(s) found.\n  (0) INTERNAL: {{function_node __wrapped__Identity}} Unable to "
      "parse request\nAdditional GRPC error information from remote target "
      "/job:worker/replica:0/task:0/device:CPU:0 while calling "
      "/tensorflow.eager.EagerService/RunComponentFunction:")
  with pytest.raises(TaskLost, match=r"^lost: \(0\) INTERNAL: .*Unable to parse request$"):
    with peer_failures_lose_the_task("lost"):
      raise remote
  with pytest.raises(TaskLost, match="^lost: a peer is gone$"):
    with peer_failures_lose_the_task("lost"):
      raise tf.errors.UnavailableError(None, None, "a peer is gone")
  with pytest.raises(tf.errors.InternalError):  # this task's own failure: its traceback
    with peer_failures_lose_the_task("lost"):
      raise _internal("a kernel failed")
  assert is_peer_error(remote) and not is_peer_error(_internal("a kernel failed"))
