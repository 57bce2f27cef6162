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
from tests.bin.helpers import ENV, TINY, binary, error_lines, run
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
      procs[name] = subprocess.Popen(binary("t2t-trainer") + trainer_args,
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
