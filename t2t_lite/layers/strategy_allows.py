"""What the tf.distribute strategy a model trains under allows, described once.

The runner (training/runners.py) describes its strategy when it is made, and the builder
builds the model inside `using(description)`: the layers and the training step read that
description instead of each asking tf.distribute again which strategy it is. A model built
outside a runner (decoding, benchmarks, tests) gets the description of the strategy whose
scope it is built in.
"""
import contextlib
import dataclasses
import threading

import tensorflow as tf

HOST = "/cpu:0"

# tf.distribute's classes as the --strategy values users know them by (subclasses first).
_STRATEGY_FLAGS = ((tf.distribute.MultiWorkerMirroredStrategy, "multi_worker_mirrored"),
                   (tf.distribute.MirroredStrategy, "mirrored"),
                   (tf.distribute.OneDeviceStrategy, "one_device"),
                   (tf.distribute.TPUStrategy, "tpu"))


@dataclasses.dataclass(frozen=True)
class StrategyAllows:
  # An optimizer update may sit in a tf.cond: one replica, and not parameter_server
  # (Keras synchronizes even one replica's update there, with a merge_call).
  conditional_updates: bool = True
  # Graphs may run custom ops built in this process: parameter_server's workers run the
  # graphs the coordinator traces, without the libraries it loaded.
  custom_ops: bool = True
  # Where embedding_placement=host pins a table: a device, or None when the strategy keeps
  # its variables in host memory already (CPU replicas; the ps tasks).
  host_device: str | None = HOST
  # The --strategy that keeps every variable on its replicas' accelerators (one copy
  # each), so no table can stay in host memory; "" when one can.
  host_placement_refused: str = ""


def _is_default(strategy):
  with strategy.scope():
    return not tf.distribute.has_strategy()


def describe(strategy: tf.distribute.Strategy) -> StrategyAllows:
  """What `strategy` allows (the default strategy: everything, tables on the host CPU)."""
  if isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy):
    return StrategyAllows(conditional_updates=False, custom_ops=False, host_device=None)
  if _is_default(strategy):
    return StrategyAllows()
  on_cpus = all("CPU" in d.upper() for d in strategy.extended.worker_devices)
  flag = next((f for cls, f in _STRATEGY_FLAGS if isinstance(strategy, cls)),
              type(strategy).__name__)
  return StrategyAllows(conditional_updates=strategy.num_replicas_in_sync == 1,
                        host_device=None, host_placement_refused="" if on_cpus else flag)


_active = threading.local()


@contextlib.contextmanager
def using(allows: StrategyAllows):
  """Layers built in this context read `allows` (the builder enters it for the runner's)."""
  previous = getattr(_active, "allows", None)
  _active.allows = allows
  try:
    yield allows
  finally:
    _active.allows = previous


def current() -> StrategyAllows:
  """The description in `using`, else that of the strategy in scope."""
  allows = getattr(_active, "allows", None)
  return allows if allows is not None else describe(tf.distribute.get_strategy())
