"""--strategy: the one place where a strategy name becomes a tf.distribute strategy and
the Runner of its family (runners.py).

Must be created before TensorFlow initializes its devices: on a machine without GPUs,
`mirrored` with --worker_gpu=N first splits the CPU into N logical devices (how tests and
laptops exercise multi-replica code). The multi-process strategies read their cluster from
TF_CONFIG (cluster.py); under parameter_server this is the chief's strategy (worker and ps
tasks run cluster.run_server instead).

How synchronous replicas sum their gradients is AllReduce (--all_reduce,
--all_reduce_pack_bytes): multi_worker_mirrored's CommunicationOptions (TensorFlow's choice,
its ring all-reduce over gRPC, or NCCL between GPUs; gradients packed into chunks of
pack_bytes, 0: TensorFlow's choice), and for mirrored NCCL or TensorFlow's choice.
"""
import dataclasses
import os
from collections.abc import Callable

import tensorflow as tf

from t2t_lite.errors import UserError
from t2t_lite.training import cluster, runners

ALL_REDUCE = ("auto", "ring", "nccl")
_IMPLEMENTATIONS = {"auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
                    "ring": tf.distribute.experimental.CommunicationImplementation.RING,
                    "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL}


@dataclasses.dataclass(frozen=True)
class AllReduce:
  """How synchronous replicas sum their gradients (--all_reduce, --all_reduce_pack_bytes)."""
  implementation: str = "auto"
  pack_bytes: int = 0  # gradients are all-reduced in packs of this size (0: TF's choice)

  def only_default(self, strategy):
    """Refuses settings that `strategy` has no use for (rather than ignoring them)."""
    if self != AllReduce():
      raise UserError(f"--all_reduce and --all_reduce_pack_bytes apply to mirrored and "
                      f"multi_worker_mirrored; --strategy={strategy} does not all-reduce")


@dataclasses.dataclass(frozen=True)
class StrategyKind:
  make: Callable  # (worker_gpu, tpu, all_reduce) -> tf.distribute.Strategy
  runner: type    # the Runner of its family
  help: str


def _default(worker_gpu, tpu, all_reduce):
  all_reduce.only_default("default")
  return tf.distribute.get_strategy()


def _one_device(worker_gpu, tpu, all_reduce):
  all_reduce.only_default("one_device")
  gpus = tf.config.list_physical_devices("GPU")
  return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")


def max_cpu_replicas():
  """How many logical CPU devices --strategy=mirrored makes at most without GPUs: an
  8-GPU host's worth (to exercise multi-replica code), or one per core on a larger CPU.
  Beyond that the replicas only multiply the model's copies in memory."""
  return max(8, os.cpu_count() or 1)


def _mirrored_all_reduce(all_reduce, gpus):
  """cross_device_ops for MirroredStrategy (None: TensorFlow's choice, NCCL on GPUs)."""
  if all_reduce.pack_bytes:
    raise UserError("--all_reduce_pack_bytes applies to multi_worker_mirrored; under "
                    "--strategy=mirrored NCCL packs the gradients itself")
  if all_reduce.implementation == "ring":
    raise UserError("--all_reduce=ring is multi_worker_mirrored's all-reduce between "
                    "workers; under --strategy=mirrored use auto or nccl")
  if all_reduce.implementation == "nccl":
    if not gpus:
      raise UserError("--all_reduce=nccl needs GPUs; this machine has none (use auto)")
    return tf.distribute.NcclAllReduce()
  return None


def _mirrored(worker_gpu, tpu, all_reduce):
  gpus = tf.config.list_physical_devices("GPU")
  cross_device_ops = _mirrored_all_reduce(all_reduce, gpus)
  if gpus:
    if worker_gpu > len(gpus):
      raise UserError(f"--worker_gpu={worker_gpu} but this machine has {len(gpus)} GPU(s)")
    devices = [f"/gpu:{i}" for i in range(worker_gpu or len(gpus))]
  else:
    n = max(worker_gpu, 1)
    if n > max_cpu_replicas():
      raise UserError(f"--worker_gpu={worker_gpu}: this machine has no GPU, and "
                      f"--strategy=mirrored simulates at most {max_cpu_replicas()} replicas "
                      "as logical CPU devices here")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
      tf.config.set_logical_device_configuration(
          cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:
      if len(tf.config.list_logical_devices("CPU")) != n:
        raise UserError("--strategy=mirrored on CPU must be set up before TensorFlow "
                        "starts; it could not split the CPU now") from None
    devices = [f"/cpu:{i}" for i in range(n)]
  return tf.distribute.MirroredStrategy(devices, cross_device_ops=cross_device_ops)


def _multi_worker(worker_gpu, tpu, all_reduce):
  cluster.check_cluster(cluster.MULTI_WORKER)
  if all_reduce.implementation == "nccl" and not tf.config.list_physical_devices("GPU"):
    # TensorFlow then runs its ring all-reduce, and says so only in its own log.
    print("WARNING: --all_reduce=nccl on a worker without GPUs: the ring all-reduce runs "
          "instead", flush=True)
  # Every local GPU of every worker is a replica (CUDA_VISIBLE_DEVICES picks them).
  return tf.distribute.MultiWorkerMirroredStrategy(
      cluster_resolver=tf.distribute.cluster_resolver.TFConfigClusterResolver(),
      communication_options=tf.distribute.experimental.CommunicationOptions(
          bytes_per_pack=all_reduce.pack_bytes,
          implementation=_IMPLEMENTATIONS[all_reduce.implementation]))


def _parameter_server(worker_gpu, tpu, all_reduce):
  all_reduce.only_default(cluster.PARAMETER_SERVER)
  task_type, _ = cluster.check_cluster(cluster.PARAMETER_SERVER)
  if task_type != "chief":
    raise UserError(f"--strategy={cluster.PARAMETER_SERVER}: this {task_type} task serves "
                    "(cluster.run_server) and trains nothing itself")
  os.environ["GRPC_FAIL_FAST"] = "use_caller"  # worker failures reach the coordinator
  # No variable_partitioner: Keras 3 cannot apply gradients to a ShardedVariable.
  # Variables go round-robin over the ps tasks, so the embedding's separate shard
  # variables (symbol_modality_num_shards) spread one table over them.
  return tf.distribute.ParameterServerStrategy(cluster.training_cluster_resolver())


def _tpu(worker_gpu, tpu, all_reduce):
  """TPUStrategy on the TPU (or pod slice) named by --tpu ('local' on a TPU VM)."""
  all_reduce.only_default("tpu")
  if not tpu:
    raise UserError("--strategy=tpu needs --tpu=NAME (the Cloud TPU's name, or 'local' on "
                    "a TPU VM)")
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, RuntimeError, tf.errors.OpError) as e:
    raise UserError(f"--tpu={tpu}: cannot reach the TPU ({str(e).strip().splitlines()[0][:160]})"
                    "; check the name and that this host may use it") from None
  return tf.distribute.TPUStrategy(resolver)


# Every --strategy value, in the order the flag's help lists them.
STRATEGIES = {
    "default": StrategyKind(_default, runners.Runner, "one device"),
    "one_device": StrategyKind(_one_device, runners.Runner, "one device, placed explicitly"),
    "mirrored": StrategyKind(_mirrored, runners.Runner,
                             "all local GPUs, or --worker_gpu of them (on CPU, that many "
                             "logical devices)"),
    cluster.MULTI_WORKER: StrategyKind(_multi_worker, runners.MultiWorkerRunner,
                                       "every GPU of the workers in TF_CONFIG, synchronous"),
    cluster.PARAMETER_SERVER: StrategyKind(_parameter_server, runners.ParameterServerRunner,
                                           "workers and ps tasks in TF_CONFIG, asynchronous"),
    "tpu": StrategyKind(_tpu, runners.TPURunner, "a Cloud TPU or pod slice (--tpu)"),
}
# Those that need no cluster (t2t-benchmark's choices).
LOCAL_STRATEGIES = ("default", "one_device", "mirrored")


def check_settings(strategy, worker_gpu, tpu=None):
  """Settings that only one strategy reads are refused under the others, rather than
  silently ignored (a --worker_gpu=4 that trains on one device)."""
  if worker_gpu and strategy != "mirrored":
    raise UserError(f"--worker_gpu={worker_gpu} applies to --strategy=mirrored only (got "
                    f"--strategy={strategy}; multi-worker strategies use every GPU each "
                    "worker sees)")
  if tpu and strategy != "tpu":
    raise UserError(f"--tpu={tpu} applies to --strategy=tpu only (got --strategy={strategy})")


def make_strategy(name, worker_gpu=0, tpu=None, all_reduce=AllReduce()):
  if name not in STRATEGIES:
    raise UserError(f"unknown --strategy={name}; use one of {', '.join(STRATEGIES)}")
  return STRATEGIES[name].make(worker_gpu, tpu, all_reduce)


def make_runner(name, worker_gpu=0, tpu=None, all_reduce=AllReduce()):
  """The Runner for --strategy=name, holding its (new) tf.distribute strategy."""
  strategy = make_strategy(name, worker_gpu, tpu, all_reduce)
  return STRATEGIES[name].runner(strategy)
