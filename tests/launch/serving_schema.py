"""Validates the serving manifests as a Kubernetes cluster (with KServe installed) would:
the published OpenAPI definitions of their kinds (kubernetes/serving_schemas.json; see
kubernetes/README.md) with unknown fields refused, then the API server's own checks that
the schemas cannot express: DNS names, a selector that matches the pod template's labels,
probe and Service ports that name a container port, an autoscaler aimed at a Deployment."""
import json
import os
import re

import jsonschema

from tests.launch.tfjob_schema import _strict

SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "kubernetes", "serving_schemas.json")
_DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _schemas():
  with open(SCHEMA_FILE) as f:
    return json.load(f)


def errors(manifest):
  """Everything the cluster would refuse in one manifest, as strings ([] if none)."""
  schemas = _schemas()
  key = f"{manifest.get('apiVersion')}/{manifest.get('kind')}"
  if key not in schemas["kinds"]:
    return [f"unknown kind {key}"]
  schema = {"$ref": f"#/definitions/{schemas['kinds'][key]}",
            "definitions": _strict(schemas["definitions"])}
  found = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
           for e in jsonschema.Draft7Validator(schema).iter_errors(manifest)]
  name = manifest.get("metadata", {}).get("name", "")
  if not _DNS_1123.match(name) or len(name) > 63:
    found.append(f"metadata.name {name!r} is not a DNS-1123 label")
  spec = manifest.get("spec", {})
  if manifest["kind"] == "Deployment":
    labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
    wanted = spec.get("selector", {}).get("matchLabels", {})
    if not wanted or any(labels.get(k) != v for k, v in wanted.items()):
      found.append("spec.selector does not match the pod template's labels")
    for c in spec.get("template", {}).get("spec", {}).get("containers", []):
      ports = {p.get("name") for p in c.get("ports", [])} | \
          {p.get("containerPort") for p in c.get("ports", [])}
      for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        action = c.get(probe, {}).get("httpGet") or c.get(probe, {}).get("tcpSocket")
        if action and action.get("port") not in ports:
          found.append(f"{c.get('name')}: {probe} port {action.get('port')!r} is not a "
                       "container port")
      if not c.get("image"):
        found.append(f"container {c.get('name')} has no image")
  if manifest["kind"] == "HorizontalPodAutoscaler":
    if spec.get("minReplicas", 1) > spec.get("maxReplicas", 0):
      found.append("minReplicas exceeds maxReplicas")
  return found


def deployment_serves(deployment, service):
  """The Service selects the Deployment's pods and targets ports they expose."""
  pod = deployment["spec"]["template"]
  labels = pod["metadata"]["labels"]
  ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
  return all(labels.get(k) == v for k, v in service["spec"]["selector"].items()) and \
      all(p["targetPort"] in ports for p in service["spec"]["ports"])
