"""The kernel switch: forced choices stand; auto follows the device ops are placed on."""
import pytest
import tensorflow as tf

from t2t_lite.layers import kernels


def test_forced_choices_stand_and_auto_follows_the_device():
  assert kernels.resolve("cudnn") == "cudnn" and kernels.resolve("hoisted") == "hoisted"
  placed = lambda device: type("Placed", (), {"device": device})  # a tensor's .device
  assert kernels.device_type(placed("/job:worker/replica:0/task:0/device:GPU:1")) == "GPU"
  assert kernels.resolve("auto", placed("/device:CPU:0")) == "hoisted"
  assert kernels.resolve("auto", placed("/device:GPU:0")) == "cudnn"
  # Ops placed inside a strategy's replica or under tf.device name it in graph mode.
  graph = tf.Graph()
  with graph.as_default(), tf.device("/device:GPU:0"):
    assert kernels.resolve("auto", tf.zeros([1])) == "cudnn"
  # This machine has no GPU: unplaced ops run on the CPU.
  assert kernels.resolve("auto", tf.zeros([1])) == (
      "cudnn" if tf.config.list_logical_devices("GPU") else "hoisted")
  with pytest.raises(ValueError, match="kernels="):
    kernels.resolve("fast")
