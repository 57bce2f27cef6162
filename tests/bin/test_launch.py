"""t2t-launch through the binary: a TFJob a cluster would accept, the TPU VM commands, one
line for a bad command; and the TF_CONFIG Kubeflow's operator gives each role, fed to
t2t-trainer processes on this machine, trains, serves and evaluates."""
import json
import os
import re
import shlex
import subprocess
import time

import pytest
import yaml

from t2t_lite.launch import tf_config
from t2t_lite.training.local_cluster import free_ports
from tests.bin.helpers import ENV, TINY, error_lines, launcher, run
from tests.launch import tfjob_schema

PROBLEM = "algorithmic_reverse_decimal40"
TRAINER = [f"--problem={PROBLEM}", "--model=transformer", "--hparams_set=transformer_tiny",
           f"--hparams={TINY}"]


def test_a_parameter_server_tfjob_with_an_evaluator_on_a_shared_claim(tmp_path):
  trainer = ["--strategy=parameter_server", *TRAINER, "--output_dir=/runs/ps_rev",
             "--schedule=train", "--train_steps=1000"]
  proc = run("t2t-launch", "--image=ghcr.io/me/t2t:1", "--num_workers=3", "--num_ps=2",
             "--evaluator", "--pvc=t2t-runs", "--pvc_size=50Gi", "--gpus_per_worker=1",
             f"--manifest_dir={tmp_path}", "--", *trainer)
  files = sorted(os.listdir(tmp_path))
  assert files == ["ps-rev.pvc.yaml", "ps-rev.tfjob.yaml"]
  with open(tmp_path / "ps-rev.tfjob.yaml") as f:
    job = yaml.safe_load(f)
  assert tfjob_schema.errors(job) == []
  specs = job["spec"]["tfReplicaSpecs"]
  assert {t: s["replicas"] for t, s in specs.items()} == {"Chief": 1, "Worker": 3, "PS": 2,
                                                          "Evaluator": 1}
  assert specs["PS"]["template"]["spec"]["containers"][0]["args"] == trainer
  counts = {"Chief": 1, "Worker": 3, "PS": 2, "Evaluator": 1}
  for rtype in counts:
    expected = tf_config.tf_config("ps-rev", "default", counts, rtype, 0)
    assert f"TF_CONFIG of ps-rev-{rtype.lower()}-0: {expected}" in proc.stdout
  apply = f"kubectl apply -f {tmp_path}/ps-rev.pvc.yaml -f {tmp_path}/ps-rev.tfjob.yaml"
  assert apply in proc.stdout.splitlines()
  with open(tmp_path / "ps-rev.pvc.yaml") as f:
    assert yaml.safe_load(f)["spec"]["resources"]["requests"]["storage"] == "50Gi"


def test_tpu_vm_commands_run_the_same_trainer_on_every_host(tmp_path):
  gin = tmp_path / "run.gin"
  gin.write_text("Trainer.train_steps = 100\n")
  proc = run("t2t-launch", "--target=tpu_vm", "--tpu_name=pod-32", "--zone=us-central2-b",
             "--tpu_hosts=4", "--", *TRAINER, f"--gin_file={gin}",
             "--output_dir=gs://bucket/runs/rev")
  scp, ssh = proc.stdout.strip().splitlines()
  assert shlex.split(scp)[4:7] == ["scp", str(gin), f"pod-32:{gin}"]
  remote = shlex.split(ssh)[-1].removeprefix("--command=")
  assert shlex.split(remote) == ["t2t-trainer", *TRAINER, f"--gin_file={gin}",
                                 "--output_dir=gs://bucket/runs/rev", "--strategy=tpu",
                                 "--tpu=pod-32"]


@pytest.mark.parametrize("launch,trainer,message", [
    (["--image=i"], ["--output_dir=/runs/x", "--train_step=5"],
     "t2t-trainer flags after --: Unknown command line flag 'train_step'"),
    (["--image=i", "--pvc=c"], ["--output_dir=/runs/x", "--hparams=hidden_sise=3"],
     "unknown hparam 'hidden_sise' in --hparams; did you mean hidden_size"),
    (["--image=i"], ["--output_dir=runs/x", "--strategy=multi_worker_mirrored"],
     "--output_dir=runs/x: every pod must reach it; use a gs:// path"),
    (["--image=i", "--num_ps=2"], ["--output_dir=gs://b/x", "--strategy=multi_worker_mirrored"],
     "--num_ps does not apply to --strategy=multi_worker_mirrored"),
    (["--target=tpu_vm", "--tpu_name=t", "--zone=z"], ["--output_dir=/runs/x"],
     "--output_dir=/runs/x: every TPU host reads and writes it; use a gs:// path"),
])
def test_bad_launches_are_one_line(tmp_path, launch, trainer, message):
  proc = run("t2t-launch", *launch, f"--manifest_dir={tmp_path}", "--", *TRAINER, *trainer,
             check=False)
  assert proc.returncode == 2, proc.stdout + proc.stderr
  (line,) = error_lines(proc.stderr)
  assert line.startswith(f"t2t-launch: error: {message}"), line
  assert os.listdir(tmp_path) == []


def _start_roles(counts, trainer_args, task_names):
  """A t2t-trainer per role, with the operator's TF_CONFIG (local addresses)."""
  ports = iter(free_ports(sum(counts.values())))
  local = {(t, i): f"localhost:{next(ports)}" for t, n in counts.items() for i in range(n)}
  procs = {}
  for rtype, n in counts.items():
    for i in range(n):
      config = tf_config.tf_config("rev", "default", counts, rtype, i,
                                   address=lambda t, i: local[(t, i)])
      operator = tf_config.tf_config("rev", "default", counts, rtype, i)
      for (t, j), address in local.items():  # the operator's string, addresses aside
        operator = operator.replace(tf_config.service_address("rev", "default", t, j), address)
      assert config == operator
      name = f"{rtype.lower()}:{i}"
      procs[name] = subprocess.Popen(launcher("t2t-trainer") + trainer_args,
                                     env=dict(ENV, TF_CONFIG=config), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
      task_names.append(name)
  return procs


def _wait(procs, names, timeout=420):
  deadline, out = time.time() + timeout, {}
  try:
    for name in names:
      out[name], _ = procs[name].communicate(timeout=max(deadline - time.time(), 1))
  finally:
    for proc in procs.values():
      if proc.poll() is None:
        proc.kill()
        proc.wait()
  return out


@pytest.mark.slow
@pytest.mark.parametrize("strategy,counts,trainers", [
    ("multi_worker_mirrored", {"Chief": 1, "Worker": 1, "Evaluator": 1}, ["chief:0", "worker:0"]),
    ("parameter_server", {"Chief": 1, "Worker": 1, "PS": 1, "Evaluator": 1}, ["chief:0"]),
])
def test_the_operators_tf_config_of_every_role_trains_serves_and_evaluates(
    data_dir, tmp_path, strategy, counts, trainers):
  out = str(tmp_path / "run")
  args = [f"--strategy={strategy}", *TRAINER, f"--data_dir={data_dir}", f"--output_dir={out}",
          "--schedule=train", "--train_steps=6", "--local_eval_frequency=3", "--eval_steps=2",
          "--log_step_count_steps=3", "--eval_timeout_secs=300"]
  names = []
  procs = _start_roles(counts, args, names)
  outputs = _wait(procs, trainers + ["evaluator:0"])
  for name in trainers + ["evaluator:0"]:
    assert procs[name].returncode == 0, f"{name}:\n{outputs[name][-3000:]}"
  for name in trainers:
    assert "training from step 0 to 6" in outputs[name], outputs[name][-3000:]
  assert re.search(r"saved checkpoint .*model\.ckpt-6", outputs["chief:0"])
  # The evaluator evaluated the chief's checkpoints, the last one included.
  evals = re.findall(r"eval at step (\d+) \(dev", outputs["evaluator:0"])
  assert evals and evals[-1] == "6", outputs["evaluator:0"][-3000:]
  with open(os.path.join(out, "run.json")) as f:
    assert json.load(f)["problem"] == PROBLEM


def test_serving_manifests_for_a_savedmodel_and_a_ctranslate2_export(tmp_path):
  from tests.launch import serving_schema
  proc = run("t2t-launch", "--target=serving", "--image=ghcr.io/me/t2t:1", "--pvc=t2t-runs",
             "--cpu=4", "--memory=8Gi", "--replicas=3", f"--manifest_dir={tmp_path}", "--",
             "--export_dir=/runs/enxx/export/1000", "--max_batch_size=32")
  assert sorted(os.listdir(tmp_path)) == ["enxx.kserve.yaml", "enxx.serve.yaml",
                                          "enxx.tf-serving.yaml"]
  manifests = {}
  for name in os.listdir(tmp_path):
    with open(tmp_path / name) as f:
      for manifest in yaml.safe_load_all(f):
        assert serving_schema.errors(manifest) == [], (name, manifest["kind"])
        manifests[(name, manifest["kind"])] = manifest
  serve = manifests[("enxx.serve.yaml", "Deployment")]
  assert serve["spec"]["template"]["spec"]["containers"][0]["args"] == [
      "--export_dir=/runs/enxx/export/1000", "--max_batch_size=32", "--host=0.0.0.0",
      "--port=8080"]
  assert serving_schema.deployment_serves(serve, manifests[("enxx.serve.yaml", "Service")])
  assert manifests[("enxx.serve.yaml", "HorizontalPodAutoscaler")]["spec"]["minReplicas"] == 3
  tf_serving = manifests[("enxx.tf-serving.yaml", "Deployment")]
  assert "--model_base_path=/runs/enxx/export" in \
      tf_serving["spec"]["template"]["spec"]["containers"][0]["args"]
  assert manifests[("enxx.kserve.yaml", "InferenceService")]["spec"]["predictor"]["model"][
      "storageUri"] == "pvc://t2t-runs/enxx/export"
  assert f"kubectl apply -f {tmp_path}/enxx.serve.yaml" in proc.stdout.splitlines()

  ct2 = tmp_path / "ct2"
  run("t2t-launch", "--target=serving", "--image=img", f"--manifest_dir={ct2}",
      "--job_name=enxx-int8", "--", "--engine=ctranslate2",
      "--export_dir=gs://bucket/enxx/ct2_int8")
  assert os.listdir(ct2) == ["enxx-int8.serve.yaml"]  # TF Serving serves SavedModels only


@pytest.mark.parametrize("serve,message", [
    (["--export_dir=/runs/x/export/1", "--port=9000"],
     "--port after --: the pods listen on 0.0.0.0:8080"),
    (["--export_dir=/runs/x/export/1", "--max_batch_sise=3"],
     "t2t-serve flags after --: Unknown command line flag 'max_batch_sise'"),
    (["--export_dir=/data/x/export/1"],
     "--export_dir=/data/x/export/1 is not under --mount_path=/runs"),
    (["--export_dir=/runs/x/export/latest"],
     "--export_dir=/runs/x/export/latest: TensorFlow Serving and KServe load BASE/VERSION/"),
    (["--export_dir=/runs/x/export/1", "--request_timeout_s=120"],
     "--grace_period_s=60 is shorter than t2t-serve's --request_timeout_s=120"),
])
def test_bad_serving_launches_are_one_line(tmp_path, serve, message):
  proc = run("t2t-launch", "--target=serving", "--image=i", "--pvc=c",
             f"--manifest_dir={tmp_path}", "--", *serve, check=False)
  assert proc.returncode == 2, proc.stdout + proc.stderr
  (line,) = error_lines(proc.stderr)
  assert line.startswith(f"t2t-launch: error: {message}"), line
