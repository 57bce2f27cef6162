"""The serving manifests: t2t-serve's Deployment + Service + HorizontalPodAutoscaler,
TensorFlow Serving's Deployment + Service and a KServe InferenceService, each checked
against the published schemas of its kind and the API server's own rules, and read back
from YAML unchanged."""
import copy

import pytest
import yaml

from t2t_lite.launch import serving, tfjob, yaml_text
from tests.launch import serving_schema

POD = serving.Pod("team", tfjob.Resources(cpu="4", memory="8Gi"),
                  tfjob.Storage("t2t-runs", "/runs"), "server", 90)
ARGS = ["--export_dir=/runs/enxx/export/1000", "--max_batch_size=32"]


def test_t2t_serve_deployment_service_and_autoscaler_are_valid():
  deployment, service, hpa = serving.t2t_serve("enxx", "ghcr.io/me/t2t:1", ARGS, POD,
                                               serving.Scaling(3, 10, 60))
  for manifest in (deployment, service, hpa):
    assert serving_schema.errors(manifest) == [], manifest["kind"]
  assert serving_schema.deployment_serves(deployment, service)
  pod = deployment["spec"]["template"]["spec"]
  (container,) = pod["containers"]
  assert container["command"] == ["t2t-serve"]
  assert container["args"] == ARGS + ["--host=0.0.0.0", "--port=8080"]
  assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
  assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
  assert container["volumeMounts"] == [{"name": "runs", "mountPath": "/runs", "readOnly": True}]
  assert container["resources"] == {"requests": {"cpu": "4", "memory": "8Gi"},
                                    "limits": {"memory": "8Gi"}}
  assert pod["terminationGracePeriodSeconds"] == 90 and pod["serviceAccountName"] == "server"
  assert deployment["spec"]["replicas"] == 3
  assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                           "name": "enxx"}
  assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
  assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
  text = yaml_text.dump_all([deployment, service, hpa])
  assert list(yaml.safe_load_all(text)) == [deployment, service, hpa]


def test_tf_serving_and_kserve_load_the_versioned_base_path():
  deployment, service = serving.tf_serving("enxx-tf-serving", "tensorflow/serving", "enxx",
                                           "/runs/enxx/export", POD)
  for manifest in (deployment, service):
    assert serving_schema.errors(manifest) == [], manifest["kind"]
  assert serving_schema.deployment_serves(deployment, service)
  (container,) = deployment["spec"]["template"]["spec"]["containers"]
  assert container["image"] == "tensorflow/serving"
  assert "--model_base_path=/runs/enxx/export" in container["args"]
  assert "--model_name=enxx" in container["args"]
  assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models/enxx"
  assert [p["port"] for p in service["spec"]["ports"]] == [8500, 8501]
  isvc = serving.kserve("enxx-kserve", serving.storage_uri("/runs/enxx/export", POD.storage),
                        POD, serving.Scaling(1, 4))
  assert serving_schema.errors(isvc) == []
  model = isvc["spec"]["predictor"]["model"]
  assert model["storageUri"] == "pvc://t2t-runs/enxx/export"
  assert model["modelFormat"] == {"name": "tensorflow"}
  assert serving.storage_uri("gs://b/enxx/export", tfjob.Storage()) == "gs://b/enxx/export"
  assert yaml.safe_load(yaml_text.dump(isvc)) == isvc


def _deployment():
  return serving.t2t_serve("enxx", "img", ARGS, POD)[0]


def _container(manifest):
  return manifest["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("break_it,message", [
    (lambda m: _container(m)["readinessProbe"]["httpGet"].update(port="web"),
     "readinessProbe port 'web' is not a container port"),
    (lambda m: _container(m)["readinessProbe"].update(periodSecond=5),
     "Additional properties are not allowed ('periodSecond' was unexpected)"),
    (lambda m: m["spec"]["selector"]["matchLabels"].update(app="other"),
     "spec.selector does not match"),
    (lambda m: m["spec"].update(replicas="two"), "'two' is not of type 'integer'"),
    (lambda m: m["metadata"].update(name="En_xx"), "DNS-1123"),
    (lambda m: _container(m)["ports"][0].pop("containerPort"),
     "'containerPort' is a required property"),
])
def test_the_checks_catch_what_the_cluster_would_refuse(break_it, message):
  broken = copy.deepcopy(_deployment())
  break_it(broken)
  found = serving_schema.errors(broken)
  assert any(message in e for e in found), found


def test_kserve_without_a_model_format_is_refused():
  isvc = serving.kserve("enxx", "gs://b/export")
  del isvc["spec"]["predictor"]["model"]["modelFormat"]
  assert any("'modelFormat' is a required property" in e
             for e in serving_schema.errors(isvc))
