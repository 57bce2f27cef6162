"""The commands that start one run on every host of a TPU VM slice."""
import shlex

from t2t_lite.launch import tpu_vm


def test_every_host_runs_the_same_trainer_after_the_local_files_are_copied():
  args = ["--problem=p", "--output_dir=gs://b/runs/x", "--hparams=a=1,b='x y'",
          "--strategy=tpu", "--tpu=pod-32"]
  lines = tpu_vm.commands("pod-32", "us-central2-b", "proj", args,
                          ["cfg/run.gin", "my_t2t"], setup="pip install t2t-lite")
  assert [shlex.split(line)[:5] for line in lines] == [
      ["gcloud", "compute", "tpus", "tpu-vm", "scp"]] * 2 + [
      ["gcloud", "compute", "tpus", "tpu-vm", "ssh"]]
  scp = shlex.split(lines[0])
  assert scp[5:] == ["cfg/run.gin", "pod-32:cfg/run.gin", "--worker=all", "--recurse",
                     "--zone=us-central2-b", "--project=proj"]
  ssh = shlex.split(lines[2])
  assert ssh[5:9] == ["pod-32", "--zone=us-central2-b", "--project=proj", "--worker=all"]
  remote = ssh[9].removeprefix("--command=")
  setup, trainer = remote.split(" && ")
  assert setup == "pip install t2t-lite"
  assert shlex.split(trainer) == ["t2t-trainer", *args]  # quoting survives both shells


def test_one_host_reaches_its_tpu_locally_a_pod_slice_by_name():
  assert tpu_vm.tpu_flag("v4-8", 1) == "local"
  assert tpu_vm.tpu_flag("v4-32", 4) == "v4-32"
  (line,) = tpu_vm.commands("v4-8", "z", None, ["--problem=p"])
  assert "--project" not in line and shlex.split(line)[-1] == "--command=t2t-trainer --problem=p"
