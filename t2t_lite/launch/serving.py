"""Kubernetes manifests that serve an export: t2t-serve as a Deployment (readiness on
/readyz, liveness on /healthz, a termination grace period that covers the drain) behind
a Service and scaled by a HorizontalPodAutoscaler; and, for a SavedModel, TensorFlow
Serving (the `tensorflow/serving` image) as a Deployment + Service, and a KServe
InferenceService (its TensorFlow runtime is TensorFlow Serving too).

TensorFlow Serving and KServe load `<model_base_path>/<version>/saved_model.pb` and serve
the highest version: t2t-exporter's default OUTPUT_DIR/export/STEP is that layout, with
OUTPUT_DIR/export as the base path. The export is read from a PersistentVolumeClaim
mounted read-only (or from gs://, which every image here reads)."""
import dataclasses

from t2t_lite.launch import tfjob

SERVE_PORT = 8080
TF_SERVING_GRPC_PORT, TF_SERVING_REST_PORT = 8500, 8501
CREATED_BY = {"app.kubernetes.io/created-by": "t2t-launch"}


@dataclasses.dataclass(frozen=True)
class Scaling:
  replicas: int = 2  # the HPA's minimum (and the Deployment's start)
  max_replicas: int = 8
  target_cpu_percent: int = 70  # of the pods' CPU request


@dataclasses.dataclass(frozen=True)
class Pod:
  """What every serving pod gets: image-independent settings."""
  namespace: str = "default"
  resources: tfjob.Resources = tfjob.Resources()
  storage: tfjob.Storage = tfjob.Storage()
  service_account: str | None = None
  grace_period_s: int = 60


def _metadata(name, namespace, app):
  return {"name": name, "namespace": namespace,
          "labels": {"app.kubernetes.io/name": app, **CREATED_BY}}


def _resources(resources):
  requests, limits = {}, {}
  if resources.cpu:
    requests["cpu"] = resources.cpu
  if resources.memory:
    requests["memory"] = resources.memory
    limits["memory"] = resources.memory  # a pod over it is killed, not the node
  if resources.gpus:
    limits["nvidia.com/gpu"] = resources.gpus
  return {k: v for k, v in (("requests", requests), ("limits", limits)) if v}


def _deployment(name, app, container, pod, replicas):
  labels = {"app.kubernetes.io/name": app}
  spec = {"containers": [container],
          "terminationGracePeriodSeconds": pod.grace_period_s}
  if pod.storage.claim:
    container["volumeMounts"] = [{"name": "runs", "mountPath": pod.storage.mount_path,
                                  "readOnly": True}]
    spec["volumes"] = [{"name": "runs", "persistentVolumeClaim": {
        "claimName": pod.storage.claim, "readOnly": True}}]
  if pod.service_account:
    spec["serviceAccountName"] = pod.service_account
  resources = _resources(pod.resources)
  if resources:
    container["resources"] = resources
  return {
      "apiVersion": "apps/v1", "kind": "Deployment",
      "metadata": _metadata(name, pod.namespace, app),
      "spec": {
          "replicas": replicas,
          "selector": {"matchLabels": dict(labels)},
          # Never fewer ready pods than wanted during a rollout.
          "strategy": {"type": "RollingUpdate",
                       "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
          "template": {"metadata": {"labels": labels}, "spec": spec},
      },
  }


def _service(name, app, namespace, ports):
  return {
      "apiVersion": "v1", "kind": "Service",
      "metadata": _metadata(name, namespace, app),
      "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": app},
               "ports": [{"name": port_name, "port": port, "targetPort": port_name,
                          "protocol": "TCP"} for port_name, port in ports]},
  }


def t2t_serve(name, image, serve_args, pod=Pod(), scaling=Scaling()):
  """[Deployment, Service, HorizontalPodAutoscaler] running `t2t-serve SERVE_ARGS`
  (which must not name --host or --port: the pod listens on 0.0.0.0:8080)."""
  container = {
      "name": "t2t-serve", "image": image, "command": ["t2t-serve"],
      "args": [*serve_args, "--host=0.0.0.0", f"--port={SERVE_PORT}"],
      "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
      "ports": [{"name": "http", "containerPort": SERVE_PORT, "protocol": "TCP"}],
      # Ready only once the model is loaded and warmed up; out of the Service while
      # draining.
      "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"},
                         "periodSeconds": 5, "failureThreshold": 2},
      # Loading a large model takes a while: the startup probe holds liveness off.
      "startupProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                       "periodSeconds": 5, "failureThreshold": 60},
      "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                        "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
      # SIGTERM and the endpoint's removal from the Service race: keep accepting for a
      # few seconds first, so no client is sent to a pod that has stopped listening.
      "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
  }
  deployment = _deployment(name, name, container, pod, scaling.replicas)
  service = _service(name, name, pod.namespace, [("http", SERVE_PORT)])
  hpa = {
      "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
      "metadata": _metadata(name, pod.namespace, name),
      "spec": {
          "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
          "minReplicas": scaling.replicas, "maxReplicas": scaling.max_replicas,
          "metrics": [{"type": "Resource", "resource": {
              "name": "cpu", "target": {"type": "Utilization",
                                        "averageUtilization": scaling.target_cpu_percent}}}],
      },
  }
  return [deployment, service, hpa]


def tf_serving(name, image, model_name, model_base_path, pod=Pod(), replicas=2):
  """[Deployment, Service] of TensorFlow Serving serving model_base_path/<version>/ as
  `model_name` (REST on 8501: POST /v1/models/MODEL_NAME:predict; gRPC on 8500)."""
  container = {
      "name": "tensorflow-serving", "image": image,
      "args": [f"--model_name={model_name}", f"--model_base_path={model_base_path}",
               f"--port={TF_SERVING_GRPC_PORT}", f"--rest_api_port={TF_SERVING_REST_PORT}"],
      "ports": [{"name": "grpc", "containerPort": TF_SERVING_GRPC_PORT, "protocol": "TCP"},
                {"name": "rest", "containerPort": TF_SERVING_REST_PORT, "protocol": "TCP"}],
      # The model status endpoint answers 404 until a version is loaded.
      "readinessProbe": {"httpGet": {"path": f"/v1/models/{model_name}", "port": "rest"},
                         "periodSeconds": 5},
      "livenessProbe": {"tcpSocket": {"port": "grpc"}, "periodSeconds": 10,
                        "initialDelaySeconds": 30},
  }
  deployment = _deployment(name, name, container, pod, replicas)
  service = _service(name, name, pod.namespace, [("grpc", TF_SERVING_GRPC_PORT),
                                                 ("rest", TF_SERVING_REST_PORT)])
  return [deployment, service]


def kserve(name, storage_uri, pod=Pod(), scaling=Scaling()):
  """A KServe InferenceService whose predictor is the TensorFlow model format at
  storage_uri (a base path holding <version>/ folders, as for TensorFlow Serving)."""
  predictor = {
      "minReplicas": scaling.replicas, "maxReplicas": scaling.max_replicas,
      "model": {"modelFormat": {"name": "tensorflow"}, "storageUri": storage_uri,
                "protocolVersion": "v1"},
  }
  resources = _resources(pod.resources)
  if resources:
    predictor["model"]["resources"] = resources
  if pod.service_account:
    predictor["serviceAccountName"] = pod.service_account
  return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
          "metadata": _metadata(name, pod.namespace, name), "spec": {"predictor": predictor}}


def storage_uri(model_base_path, storage):
  """KServe's URI of a base path: pvc://CLAIM/PATH-ON-THE-CLAIM, or the gs:// path."""
  if model_base_path.startswith("gs://"):
    return model_base_path
  relative = model_base_path[len(storage.mount_path.rstrip("/")):].lstrip("/")
  return f"pvc://{storage.claim}/{relative}"
