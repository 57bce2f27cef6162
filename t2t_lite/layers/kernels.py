"""Which implementation of the recurrent and convolution kernels a replica runs.

The hoisted GRU (layers/recurrent.py: the input projection of all steps as one matmul,
then a tf.scan of the recurrent matmul) and the convolution whose filter gradient is a
forward convolution (layers/conv.py) were chosen from CPU profiles. On a GPU the
standard layers are the fast ones: Keras' GRU dispatches to cuDNN's fused kernel when its
settings allow it (tanh/sigmoid, reset_after=True, use_bias, no recurrent dropout,
unroll=False, right-padded masks: keras/src/backend/tensorflow/rnn.py), and cuDNN has its
own fast filter gradient. Both implementations read the same Keras weights, so a
checkpoint trained with one runs with the other.

  auto     by the device the replica's ops are placed on: cudnn on a GPU, else hoisted
  cudnn    Keras' GRU layer and tf.nn.conv2d's own gradient (cuDNN on a GPU; on a CPU
           Keras runs its generic GRU loop)
  hoisted  the CPU kernels
"""
import tensorflow as tf

CHOICES = ("auto", "cudnn", "hoisted")


def device_type(tensor=None):
  """'GPU', 'TPU' or 'CPU': the device named by the op placement in force (a replica's
  device under a tf.distribute strategy, or an explicit tf.device), else the device
  TensorFlow places ops on by default (the first GPU when there is one)."""
  name = getattr(tensor, "device", "") or ""
  spec = tf.DeviceSpec.from_string(name) if name else None
  if spec is not None and spec.device_type:
    return spec.device_type.upper()
  return "GPU" if tf.config.list_logical_devices("GPU") else "CPU"


def resolve(setting, tensor=None):
  """'cudnn' or 'hoisted' for the hparam value `setting` (auto: by device_type)."""
  if setting not in CHOICES:
    raise ValueError(f"kernels={setting!r} is not one of {CHOICES} (validate_hparams "
                     "checks this first)")
  if setting != "auto":
    return setting
  return "cudnn" if device_type(tensor) == "GPU" else "hoisted"
