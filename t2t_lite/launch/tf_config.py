"""The TF_CONFIG that Kubeflow's training operator gives each pod of a TFJob, byte for byte.

The operator (github.com/kubeflow/training-operator, pkg/controller.v1/tensorflow/
tensorflow.go, genClusterSpec and genTFConfigJSONStr, v1.9.0) names every replica of every
replica type, lower-cased, at its headless service, `JOB-TYPE-INDEX.NAMESPACE.svc:PORT`
(`.CLUSTER_DOMAIN` appended when the operator runs with CUSTOM_CLUSTER_DOMAIN), with the
port of the `tfjob-port` container port of that replica type (default 2222). It marshals
{"cluster": {type: [addresses]}, "task": {"type", "index"}, "environment": "cloud"} with
Go's encoding/json: no spaces, the struct's field order, map keys sorted. An Evaluator is
listed in every task's cluster. A job of a single replica in all (no Chief, PS or second
Worker) is not distributed: its pod gets no TF_CONFIG. There is never a "master" task
(what Tensor2Tensor's own cluster code assumed).

t2t-launch prints these strings, so a user sees what each pod will get; the tests feed them
into the trainer's cluster set-up in local processes.
"""
import json
from collections.abc import Callable

DEFAULT_PORT = 2222
# TFJob replica types, as the manifest spells them (the operator lower-cases them).
REPLICA_TYPES = ("Chief", "Worker", "PS", "Evaluator")


def service_address(job_name: str, namespace: str, replica_type: str, index: int,
                    port: int = DEFAULT_PORT, cluster_domain: str = "") -> str:
  """Where the operator's headless service for one replica answers."""
  host = f"{job_name}-{replica_type.lower()}-{index}.{namespace}.svc"
  return f"{host}.{cluster_domain}:{port}" if cluster_domain else f"{host}:{port}"


def is_distributed(replicas: dict[str, int]) -> bool:
  """The operator's isDistributed: TF_CONFIG is set unless there is exactly one replica."""
  return sum(replicas.values()) != 1


def tf_config(job_name: str, namespace: str, replicas: dict[str, int], replica_type: str,
              index: int, ports: dict[str, int] | None = None, cluster_domain: str = "",
              address: Callable[[str, int], str] | None = None) -> str | None:
  """The TF_CONFIG of replica `index` of `replica_type` ("Worker", ...) in a TFJob with
  `replicas` ({replica type: count}); None when the operator sets none.

  `address(type, index)` replaces the service address (tests run the tasks on localhost);
  everything else is the operator's string."""
  if not is_distributed(replicas):
    return None
  ports = ports or {}
  if address is None:
    def address(rtype, i):
      return service_address(job_name, namespace, rtype, i,
                             ports.get(rtype, DEFAULT_PORT), cluster_domain)
  cluster = {rtype.lower(): [address(rtype, i) for i in range(count)]
             for rtype, count in replicas.items()}
  config = {"cluster": dict(sorted(cluster.items())),
            "task": {"type": replica_type.lower(), "index": index},
            "environment": "cloud"}
  # Go's encoding/json: compact; it escapes <, > and & (never in DNS names), not Unicode.
  return json.dumps(config, separators=(",", ":"), ensure_ascii=False)
