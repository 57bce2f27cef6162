"""Validates a TFJob manifest as a Kubernetes cluster with the Kubeflow training operator
would: the CRD's OpenAPI schema (kubeflow/tfjob_crd_schema.json; see kubeflow/README.md)
with unknown fields refused, as `kubectl apply`'s default --validate=strict does, then the
operator's admission webhook and its enumerations."""
import json
import os
import re

import jsonschema

SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "kubeflow", "tfjob_crd_schema.json")
# pkg/apis/kubeflow.org/v1/common_types.go and tensorflow_types.go (v1.9.0)
RESTART_POLICIES = {"Always", "OnFailure", "Never", "ExitCode"}
CLEAN_POD_POLICIES = {"All", "Running", "None"}
REPLICA_TYPES = {"PS", "Worker", "Chief", "Master", "Evaluator"}
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _strict(schema):
  """The schema with every object that lists its properties closed to others."""
  if isinstance(schema, list):
    return [_strict(s) for s in schema]
  if not isinstance(schema, dict):
    return schema
  out = {k: _strict(v) for k, v in schema.items()}
  if "properties" in schema and "additionalProperties" not in schema and \
      not schema.get("x-kubernetes-preserve-unknown-fields"):
    out["additionalProperties"] = False
  return out


def _schema():
  with open(SCHEMA_FILE) as f:
    return _strict(json.load(f))


def errors(manifest):
  """Everything the cluster would refuse in `manifest`, as strings ([] if none)."""
  found = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
           for e in jsonschema.Draft7Validator(_schema()).iter_errors(manifest)]
  if manifest.get("apiVersion") != "kubeflow.org/v1" or manifest.get("kind") != "TFJob":
    found.append("not a kubeflow.org/v1 TFJob")
  name = manifest.get("metadata", {}).get("name", "")
  if not _DNS_1035.match(name) or len(name) > 63:
    found.append(f"metadata.name {name!r} is not a DNS-1035 label")
  spec = manifest.get("spec", {})
  policy = spec.get("runPolicy", {}).get("cleanPodPolicy")
  if policy is not None and policy not in CLEAN_POD_POLICIES:
    found.append(f"cleanPodPolicy {policy!r}")
  replicas = spec.get("tfReplicaSpecs") or {}
  if not replicas:
    found.append("tfReplicaSpecs must be given")
  if sum(t in ("Chief", "Master") for t in replicas) > 1:
    found.append("more than 1 Chief or Master")
  for rtype, rspec in replicas.items():
    if rtype not in REPLICA_TYPES:
      found.append(f"replica type {rtype!r}")
    if rspec.get("restartPolicy", "Never") not in RESTART_POLICIES:
      found.append(f"{rtype}: restartPolicy {rspec.get('restartPolicy')!r}")
    containers = rspec.get("template", {}).get("spec", {}).get("containers", [])
    if not any(c.get("name") == "tensorflow" for c in containers):
      found.append(f"{rtype}: no container named tensorflow")
    found += [f"{rtype}: container {c.get('name')} has no image" for c in containers
              if not c.get("image")]
  return found
