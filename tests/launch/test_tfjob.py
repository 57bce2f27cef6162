"""TFJob manifests for every strategy, checked against the TFJob CRD's schema and the
operator's admission rules, written as YAML that a YAML reader reads back unchanged."""
import copy

import pytest
import yaml

from t2t_lite.launch import tfjob, yaml_text
from tests.launch import tfjob_schema

POLICY = {"restart_policy": "exit_code", "backoff_limit": 10}

ARGS = ["--strategy=multi_worker_mirrored", "--problem=algorithmic_reverse_decimal40",
        "--model=transformer", "--hparams_set=transformer_tiny", "--output_dir=/runs/rev",
        "--hparams=batch_size=1024,learning_rate_schedule=constant*linear_warmup"]


@pytest.mark.parametrize("strategy,chief,evaluator,expected", [
    ("multi_worker_mirrored", False, False, {"Worker": 3}),
    ("multi_worker_mirrored", True, True, {"Chief": 1, "Worker": 3, "Evaluator": 1}),
    ("parameter_server", False, False, {"Chief": 1, "Worker": 3, "PS": 2}),
    ("parameter_server", False, True, {"Chief": 1, "Worker": 3, "PS": 2, "Evaluator": 1}),
    ("mirrored", False, False, {"Worker": 1}),
])
def test_every_strategys_manifest_is_a_valid_tfjob(strategy, chief, evaluator, expected):
  counts = tfjob.replica_counts(strategy, 3, 2, chief, evaluator)
  assert counts == expected
  job = tfjob.manifest("rev", "team", "ghcr.io/me/t2t:1", ARGS, counts,
                       **POLICY, resources=tfjob.Resources(gpus=8, cpu="16", memory="64Gi"),
                       storage=tfjob.Storage("t2t-runs", "/runs"), service_account="trainer")
  assert tfjob_schema.errors(job) == []
  specs = job["spec"]["tfReplicaSpecs"]
  assert {t: s["replicas"] for t, s in specs.items()} == expected
  for rtype, spec in specs.items():
    assert spec["restartPolicy"] == "ExitCode"
    assert spec["template"]["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["t2t-trainer"] and container["args"] == ARGS
    assert container["ports"] == [{"name": "tfjob-port", "containerPort": 2222}]
    gpus = container["resources"].get("limits", {}).get("nvidia.com/gpu")
    assert gpus == (None if rtype == "PS" else 8)
    assert container["resources"]["requests"] == {"cpu": "16", "memory": "64Gi"}
    assert container["volumeMounts"] == [{"name": "runs", "mountPath": "/runs"}]
    assert pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": "t2t-runs"}
    assert pod["serviceAccountName"] == "trainer"
  assert job["spec"]["runPolicy"] == {"cleanPodPolicy": "Running", "backoffLimit": 10}


def test_the_yaml_reads_back_as_the_same_manifest():
  job = tfjob.manifest("rev", "default", "ghcr.io/me/t2t:1", ARGS + ["--gin_param=x = 'y: z'"],
                       tfjob.replica_counts("parameter_server", 2, 1, False, True),
                       restart_policy="on_failure", backoff_limit=10,
                       storage=tfjob.Storage())
  text = yaml_text.dump(job)
  assert yaml.safe_load(text) == job
  assert "kind: TFJob" in text and "restartPolicy: OnFailure" in text
  claim = tfjob.claim_manifest("t2t-runs", "default", "100Gi", "filestore")
  both = list(yaml.safe_load_all(yaml_text.dump_all([claim, job])))
  assert both == [claim, job]
  assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_a_gs_output_dir_needs_no_volume():
  job = tfjob.manifest("rev", "default", "img", ARGS, {"Worker": 2}, **POLICY)
  pod = job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
  assert "volumes" not in pod and "volumeMounts" not in pod["containers"][0]
  assert "resources" not in pod["containers"][0]
  assert tfjob_schema.errors(job) == []


@pytest.mark.parametrize("break_it,message", [
    (lambda j: j["spec"]["tfReplicaSpecs"]["Worker"].update(replica=2), "replica"),
    (lambda j: j["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
     .update(name="trainer"), "no container named tensorflow"),
    (lambda j: j["spec"]["tfReplicaSpecs"]["Worker"].update(restartPolicy="Sometimes"),
     "restartPolicy"),
    (lambda j: j["metadata"].update(name="Rev_1"), "DNS-1035"),
    (lambda j: j["spec"]["tfReplicaSpecs"]["Worker"].update(replicas="two"), "is not of type"),
])
def test_the_checks_catch_what_the_cluster_would_refuse(break_it, message):
  job = tfjob.manifest("rev", "default", "img", ARGS, {"Worker": 2}, **POLICY)
  broken = copy.deepcopy(job)
  break_it(broken)
  assert any(message in e for e in tfjob_schema.errors(broken)), tfjob_schema.errors(broken)
