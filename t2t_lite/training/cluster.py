"""Which task of a cluster this process is, from TF_CONFIG, and the server tasks' main.

TF_CONFIG is TensorFlow's own cluster description, one JSON object per process:

  {"cluster": {"chief": ["h0:2222"], "worker": ["h1:2222", "h2:2222"], "ps": ["h3:2222"]},
   "task": {"type": "worker", "index": 0}}

multi_worker_mirrored needs a "worker" job (worker 0, or a "chief" task, is the chief);
parameter_server needs "chief", "worker" and "ps" jobs: the chief runs the training loop,
worker and ps tasks only serve (run_server). An "evaluator" task (Kubeflow's TFJob lists it
in every task's cluster) is no part of training: it evaluates each new checkpoint.
Kubeflow's operator also adds "environment": "cloud", which TensorFlow 2 ignores.
"""
import functools
import hashlib
import json
import os
import time

import tensorflow as tf

from t2t_lite import options
from t2t_lite.data import manifest
from t2t_lite.errors import UserError
from t2t_lite.layers import dropout
from t2t_lite.ops import build
from t2t_lite.options import setting
from t2t_lite.training import preemption

MULTI_WORKER = "multi_worker_mirrored"
PARAMETER_SERVER = "parameter_server"
# What happens to a task that fails: Kubeflow's TFJob policies (t2t-local-cluster runs them
# too).
RESTART_POLICIES = ("never", "on_failure", "exit_code")
# How long a worker given --generate_data waits for the chief to write the data: about
# what generating a large built-in problem takes here.
DATA_WAIT_SECS = 60 * 60


@options.group("ClusterShape", bindable=False)  # bound as Launch.*, LocalCluster.*
class ClusterShape(options.Options):
  """The tasks of a multi-process cluster and their restarts, as t2t-local-cluster runs it
  and t2t-launch's TFJob describes it."""
  num_workers: int = setting(2, "Worker tasks (a TFJob's Worker replicas; "
                             "multi_worker_mirrored, parameter_server).", minimum=1)
  num_ps: int = setting(1, "Parameter-server tasks (parameter_server only).", minimum=1)
  chief: bool = setting(False, "multi_worker_mirrored: a chief task besides the workers (a "
                        "TFJob's Chief replica; it trains too). parameter_server always "
                        "has one.")
  restart_policy: str = setting(
      "never", "never: a failed trainer stops the cluster; on_failure: restart a task that "
      "exits with any non-zero status; exit_code: only with a retryable one (128-255: "
      "killed by a signal, preempted, or stopped for a restart; 1-127 fails), as "
      "Kubeflow's TFJob policies.", choices=RESTART_POLICIES)
  backoff_limit: int = setting(10, "With a restart policy: how many restarts in all before "
                               "the cluster (or the TFJob: runPolicy.backoffLimit) gives up.",
                               minimum=0)


def tf_config():
  """The parsed TF_CONFIG, or None when it is unset."""
  text = os.environ.get("TF_CONFIG", "").strip()
  if not text:
    return None
  try:
    config = json.loads(text)
  except json.JSONDecodeError as e:
    raise UserError(f"TF_CONFIG is not valid JSON ({e}); see "
                    "docs/tutorials/cluster.md for its layout") from None
  if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) or \
      not isinstance(config.get("task"), dict):
    raise UserError('TF_CONFIG needs "cluster" and "task" objects, e.g. {"cluster": '
                    '{"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}')
  return config


def check_cluster(strategy):
  """The TF_CONFIG of a multi-process strategy, validated for it; (task type, index)."""
  config = tf_config()
  if config is None:
    raise UserError(f"--strategy={strategy} needs TF_CONFIG naming the cluster's tasks; "
                    "see docs/tutorials/cluster.md, or start a local cluster with "
                    f"t2t-local-cluster --strategy={strategy}")
  cluster, task = config["cluster"], config["task"]
  needed = ("worker",) if strategy == MULTI_WORKER else ("chief", "worker", "ps")
  missing = [job for job in needed if not cluster.get(job)]
  if missing:
    raise UserError(f"--strategy={strategy}: TF_CONFIG's cluster has no "
                    f"{', '.join(missing)} job; it needs {', '.join(needed)}")
  allowed = ("chief", "worker") if strategy == MULTI_WORKER else needed
  task_type, index = task.get("type"), task.get("index", 0)
  if task_type not in allowed or task_type not in cluster or \
      not isinstance(index, int) or not 0 <= index < len(cluster[task_type]):
    raise UserError(f"--strategy={strategy}: TF_CONFIG's task {task} is not one of the "
                    "cluster's " + ", ".join(f"{j}:0..{len(cluster[j]) - 1}"
                                             for j in allowed if j in cluster))
  return task_type, index


def is_chief():
  """True for the task that writes checkpoints and summaries (also without a cluster)."""
  config = tf_config()
  if config is None:
    return True
  task = config["task"]
  if task.get("type") == "chief":
    return True
  return task.get("type") == "worker" and task.get("index", 0) == 0 and \
      "chief" not in config["cluster"]


def is_evaluator():
  """True for TF_CONFIG's "evaluator" task: it runs continuous_eval beside the training."""
  config = tf_config()
  return config is not None and config["task"].get("type") == "evaluator"


def worker_rank():
  """(this task's rank, number of training tasks) among the chief and workers of a
  multi_worker_mirrored cluster (TensorFlow's order: the chief, then worker 0, 1, ...);
  (0, 1) without a cluster. The rank is the task's input pipeline."""
  config = tf_config()
  if config is None:
    return 0, 1
  jobs, task = config["cluster"], config["task"]
  chiefs = len(jobs.get("chief", []))
  rank = 0 if task.get("type") == "chief" else chiefs + task.get("index", 0)
  return rank, chiefs + len(jobs.get("worker", []))


def is_server_task(strategy):
  """Under parameter_server, worker and ps tasks serve instead of training."""
  return strategy == PARAMETER_SERVER and check_cluster(strategy)[0] in ("worker", "ps")


def wait_for_data(problem, data_dir, timeout_secs=DATA_WAIT_SECS, poll_secs=5):
  """For a worker of a multi-worker run given --generate_data: waits until the chief has
  written every split (a split is complete once its manifest, written last, matches)."""
  deadline = time.time() + timeout_secs
  while not all(manifest.is_complete(data_dir, problem.name, split)
                for split, _ in problem.dataset_splits):
    if time.time() > deadline:
      raise UserError(f"the chief did not generate {problem.name}'s data in {data_dir} "
                      f"within {timeout_secs}s; run t2t-datagen first")
    time.sleep(poll_secs)


def fingerprint():
  """The same for every task of one cluster and different for any other (TF_CONFIG's
  cluster, hashed); None outside a cluster. The chief records it in its output_dir lock."""
  config = tf_config()
  if config is None:
    return None
  text = json.dumps(config["cluster"], sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def training_cluster_resolver():
  """TF_CONFIG's cluster without its evaluator, for parameter_server: the coordinator
  connects to every task of its cluster at start, and an evaluator serves nothing (it
  would wait for it forever)."""
  resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
  jobs = {job: tasks for job, tasks in resolver.cluster_spec().as_dict().items()
          if job != "evaluator"}
  return tf.distribute.cluster_resolver.SimpleClusterResolver(
      tf.train.ClusterSpec(jobs), task_type=resolver.task_type, task_id=resolver.task_id,
      rpc_layer=resolver.rpc_layer or "grpc")


def run_server():
  """Runs this worker or ps task's server until the process is killed."""
  task_type, index = check_cluster(PARAMETER_SERVER)
  # Lets the coordinator see a failed worker's RPCs fail at once, and reschedule.
  os.environ["GRPC_FAIL_FAST"] = "use_caller"
  resolver = training_cluster_resolver()
  # The coordinator's graphs may hold t2t_lite's custom ops (dropout_kernel=fused): this
  # process executes them, so it registers them, built for its own CPU.
  build.load(dropout.OP_SOURCE)
  server = tf.distribute.Server(resolver.cluster_spec(), job_name=task_type,
                                task_index=index, protocol=resolver.rpc_layer or "grpc",
                                start=True)
  print(f"{task_type}:{index} serving at {server.target}", flush=True)
  server.join()


def restart_when_a_peer_fails(main):
  """main, with a peer's failure (preemption.is_peer_error) raised anywhere in a task of a
  cluster (TF_CONFIG set) turned into preemption.TaskLost: the binary exits for its
  cluster to restart it, rather than with a traceback that a restart policy reads as a
  bug. Outside a cluster such errors keep their traceback."""
  @functools.wraps(main)
  def wrapped(*args, **kwargs):
    if tf_config() is None:
      return main(*args, **kwargs)
    with preemption.peer_failures_lose_the_task("a task of the cluster failed or restarted"):
      return main(*args, **kwargs)
  return wrapped
