"""--strategy: the tf.distribute strategy a run trains under.

Must be created before TensorFlow initializes its devices: on a machine without GPUs,
`mirrored` with --worker_gpu=N first splits the CPU into N logical devices (how tests and
laptops exercise multi-replica code).
"""
import tensorflow as tf

from t2t_lite.errors import UserError

STRATEGIES = ("default", "one_device", "mirrored")


def make_strategy(name, worker_gpu=0):
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "one_device":
    gpus = tf.config.list_physical_devices("GPU")
    return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
  if name == "mirrored":
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
      if worker_gpu > len(gpus):
        raise UserError(f"--worker_gpu={worker_gpu} but this machine has {len(gpus)} GPU(s)")
      devices = [f"/gpu:{i}" for i in range(worker_gpu or len(gpus))]
    else:
      n = max(worker_gpu, 1)
      cpu = tf.config.list_physical_devices("CPU")[0]
      try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * n)
      except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) != n:
          raise UserError("--strategy=mirrored on CPU must be set up before TensorFlow "
                          "starts; it could not split the CPU now") from None
      devices = [f"/cpu:{i}" for i in range(n)]
    return tf.distribute.MirroredStrategy(devices)
  raise UserError(f"unknown --strategy={name}; use one of {', '.join(STRATEGIES)}")
