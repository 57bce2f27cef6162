"""The commands that run one t2t-trainer command line on every host of a Cloud TPU VM slice.

A TPU VM slice runs the same program on each of its hosts (`gcloud compute tpus tpu-vm
ssh --worker=all`); TPUStrategy joins them. A single-host slice reaches its TPU as
`--tpu=local`; a slice of several hosts (a pod slice) by its name. Checkpoints, summaries
and data go to Cloud Storage (gs://), which every host reaches through tf.io.gfile. Local
files the trainer reads (--gin_file, --t2t_usr_dir) are copied to every host first, to the
same path.
"""
import shlex


def _gcloud(verb, tpu_name, zone, project):
  command = ["gcloud", "compute", "tpus", "tpu-vm", verb]
  location = [f"--zone={zone}"] + ([f"--project={project}"] if project else [])
  return command, location


def tpu_flag(tpu_name: str, hosts: int) -> str:
  return "local" if hosts == 1 else tpu_name


def commands(tpu_name: str, zone: str, project: str | None, trainer_args: list[str],
             local_paths: list[str] = (), setup: str = "") -> list[str]:
  """Shell lines: copy `local_paths` to every host, then run the trainer on every host
  (after `setup`, e.g. a pip install, when given)."""
  lines = []
  for path in local_paths:
    base, location = _gcloud("scp", tpu_name, zone, project)
    lines.append(shlex.join(base + [path, f"{tpu_name}:{path}", "--worker=all",
                                    "--recurse"] + location))
  trainer = shlex.join(["t2t-trainer", *trainer_args])
  remote = f"{setup} && {trainer}" if setup else trainer
  base, location = _gcloud("ssh", tpu_name, zone, project)
  lines.append(shlex.join(base + [tpu_name] + location + ["--worker=all",
                                                           f"--command={remote}"]))
  return lines
