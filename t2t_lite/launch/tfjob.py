"""A Kubeflow TFJob (kubeflow.org/v1) that runs one t2t-trainer command line on Kubernetes.

Every replica runs the same container command, `t2t-trainer FLAGS`: the operator gives
each pod its TF_CONFIG (tf_config.py), from which the trainer learns its role (chief and
workers train; under parameter_server, worker and ps tasks serve; an evaluator evaluates
each new checkpoint). Replicas by strategy:

  multi_worker_mirrored   Worker x num_workers (+ Chief if chief), synchronous
  parameter_server        Chief + Worker x num_workers + PS x num_ps, asynchronous
  default/one_device/     one Worker (one pod; mirrored uses all its GPUs)
  mirrored
  any of them             + Evaluator if evaluator (continuous_eval on the chief's
                          checkpoints; the trainers then run --schedule=train)

The operator restarts replicas by restartPolicy: ExitCode (the default here) retries exit
statuses 128-255, which is what a task killed by a signal, a trainer that saved on SIGTERM
in a cluster, and a trainer that lost a peer report (training/preemption.py), and fails the
job on 1-127 (t2t-trainer's one-line errors exit 2: a mistake, not worth a retry).
"""
import dataclasses

from t2t_lite.launch import tf_config
from t2t_lite.training import cluster

API_VERSION = "kubeflow.org/v1"
CONTAINER = "tensorflow"  # the operator injects TF_CONFIG into the container of this name
PORT_NAME = "tfjob-port"  # ... and reads the replicas' port from the port of this name
# Istio's sidecar proxy would keep finished pods running and get in gRPC's way; Kubeflow's
# examples turn it off for training pods.
ANNOTATIONS = {"sidecar.istio.io/inject": "false"}
# cluster.RESTART_POLICIES as a TFJob spells them (exit_code -> ExitCode).
TFJOB_SPELLING = {p: "".join(w.capitalize() for w in p.split("_"))
                  for p in cluster.RESTART_POLICIES}


@dataclasses.dataclass(frozen=True)
class Storage:
  """Where the run's output_dir lives: a PersistentVolumeClaim mounted in every pod, or
  none (a gs:// output_dir, reached through tf.io.gfile)."""
  claim: str | None = None
  mount_path: str = "/runs"


@dataclasses.dataclass(frozen=True)
class Resources:
  gpus: int = 0  # nvidia.com/gpu per chief, worker and evaluator pod
  cpu: str = ""  # requests, e.g. "8"
  memory: str = ""  # e.g. "32Gi"


def replica_counts(strategy: str, num_workers: int, num_ps: int, chief: bool,
                   evaluator: bool) -> dict[str, int]:
  """{TFJob replica type: replicas} for a strategy (see the module docstring)."""
  if strategy == cluster.MULTI_WORKER:
    counts = {"Chief": 1, "Worker": num_workers} if chief else {"Worker": num_workers}
  elif strategy == cluster.PARAMETER_SERVER:
    counts = {"Chief": 1, "Worker": num_workers, "PS": num_ps}
  else:
    counts = {"Worker": 1}
  if evaluator:
    counts["Evaluator"] = 1
  return counts


def _container(image, trainer_args, replica_type, resources, storage, port):
  limits, requests = {}, {}
  if resources.gpus and replica_type != "PS":
    limits["nvidia.com/gpu"] = resources.gpus
  if resources.cpu:
    requests["cpu"] = resources.cpu
  if resources.memory:
    requests["memory"] = resources.memory
  container = {
      "name": CONTAINER,
      "image": image,
      "command": ["t2t-trainer"],
      "args": list(trainer_args),
      # Progress lines reach `kubectl logs` at once.
      "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
      "ports": [{"name": PORT_NAME, "containerPort": port}],
  }
  if limits or requests:
    container["resources"] = {k: v for k, v in (("limits", limits), ("requests", requests))
                              if v}
  if storage.claim:
    container["volumeMounts"] = [{"name": "runs", "mountPath": storage.mount_path}]
  return container


def manifest(job_name: str, namespace: str, image: str, trainer_args: list[str],
             counts: dict[str, int], *, restart_policy: str, backoff_limit: int,
             resources: Resources = Resources(),
             storage: Storage = Storage(), service_account: str | None = None,
             port: int = tf_config.DEFAULT_PORT) -> dict:
  """The TFJob as a dict (yaml_text.dump writes it)."""
  specs = {}
  for replica_type in tf_config.REPLICA_TYPES:
    if replica_type not in counts:
      continue
    pod = {"containers": [_container(image, trainer_args, replica_type, resources, storage,
                                     port)]}
    if storage.claim:
      pod["volumes"] = [{"name": "runs",
                         "persistentVolumeClaim": {"claimName": storage.claim}}]
    if service_account:
      pod["serviceAccountName"] = service_account
    specs[replica_type] = {
        "replicas": counts[replica_type],
        "restartPolicy": TFJOB_SPELLING[restart_policy],
        "template": {"metadata": {"annotations": dict(ANNOTATIONS)}, "spec": pod},
    }
  return {
      "apiVersion": API_VERSION,
      "kind": "TFJob",
      "metadata": {"name": job_name, "namespace": namespace,
                   "labels": {"app.kubernetes.io/created-by": "t2t-launch"}},
      "spec": {
          # Running: when the job ends, delete the pods still running (the parameter
          # servers, which serve until killed); finished pods keep their logs.
          "runPolicy": {"cleanPodPolicy": "Running", "backoffLimit": backoff_limit},
          "tfReplicaSpecs": specs,
      },
  }


def claim_manifest(name: str, namespace: str, size: str,
                   storage_class: str | None = None) -> dict:
  """A PersistentVolumeClaim every pod mounts read-write at once (ReadWriteMany: NFS,
  Filestore, CephFS and the like)."""
  spec = {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": size}}}
  if storage_class:
    spec["storageClassName"] = storage_class
  return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
          "metadata": {"name": name, "namespace": namespace}, "spec": spec}
