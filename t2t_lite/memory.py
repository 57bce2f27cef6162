"""Memory of training, per parameter: what a step needs against what the process uses.

Needed: the weights, the optimizer's state (Adam: two moments), one gradient per weight,
and the activations the backward pass reads at this batch. The activations are measured,
not modelled: TensorFlow's allocator holds them after an eager forward pass under a
GradientTape (every tensor the tape keeps for the gradients) until the tape goes.

Used: TensorFlow's allocator peak during compiled training steps (what the step's graph
holds at its fullest, over the weights and optimizer state), and the process's peak
resident memory above what it held before the model was built (the runtime, imported
libraries and the input are that baseline).
"""
import math
import resource

import tensorflow as tf

MIB = 2 ** 20


def _device():
  return "GPU:0" if tf.config.list_logical_devices("GPU") else "CPU:0"


def allocated_bytes():
  """(current, peak) bytes of TensorFlow's allocator on the default device, or None
  where it keeps no statistics."""
  try:
    info = tf.config.experimental.get_memory_info(_device())
  except (ValueError, tf.errors.OpError):
    return None
  return info["current"], info["peak"]


def reset_peak():
  try:
    tf.config.experimental.reset_memory_stats(_device())
  except (ValueError, tf.errors.OpError):
    pass


def rss_bytes():
  """This process's resident memory now."""
  try:
    with open("/proc/self/statm") as f:
      return int(f.read().split()[1]) * resource.getpagesize()
  except (OSError, ValueError, IndexError):
    return None


def peak_rss_bytes():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def variables_bytes(variables):
  """Bytes of the floating-point variables among `variables` (Keras or TF ones)."""
  total = 0
  for v in variables:
    dtype = tf.as_dtype(v.dtype)
    if dtype.is_floating:
      total += math.prod(v.shape) * dtype.size
  return total


def activation_bytes(model, features):
  """Bytes the allocator holds for a forward pass and loss under a GradientTape, i.e.
  the activations its backward pass needs (None without allocator statistics)."""
  before = allocated_bytes()
  if before is None:
    return None
  with tf.GradientTape() as tape:
    loss_sum, _ = model.training_loss_sums(features)
    held = allocated_bytes()[0] - before[0]
  del tape, loss_sum
  return max(held, 0)


def report(params, weights, optimizer_state, activations, step_peak, rss_before, peak_rss):
  """The benchmark's `memory` entry: MiB and bytes per parameter (None where unknown)."""
  def mib(b):
    return None if b is None else round(b / MIB, 1)

  def per_param(b):
    return None if b is None else round(b / max(params, 1), 1)

  needed = None if activations is None else 2 * weights + optimizer_state + activations
  used_by_step = None if step_peak is None else weights + optimizer_state + step_peak
  above_baseline = None if rss_before is None else peak_rss - rss_before
  out = {"weights_mib": mib(weights), "optimizer_state_mib": mib(optimizer_state),
         "gradients_mib": mib(weights), "activations_mib": mib(activations),
         "needed_mib": mib(needed), "step_allocated_peak_mib": mib(used_by_step),
         "rss_before_model_mib": mib(rss_before), "peak_rss_mib": mib(peak_rss),
         "needed_bytes_per_param": per_param(needed),
         "step_allocated_bytes_per_param": per_param(used_by_step),
         "rss_bytes_per_param": per_param(above_baseline)}
  if needed and used_by_step:
    out["step_allocated_over_needed"] = round(used_by_step / needed, 2)
  return out
