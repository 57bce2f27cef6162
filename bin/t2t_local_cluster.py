"""t2t-local-cluster: a multi-worker or parameter-server cluster as processes on this
machine, for trying distributed training (and testing it) without a cluster.

  t2t-local-cluster --strategy=parameter_server --num_workers=2 --num_ps=2 -- \\
      --problem=algorithmic_reverse_decimal40 --model=transformer \\
      --hparams_set=transformer_tiny --output_dir=runs/ps --train_steps=1000

Everything after `--` goes to every task's t2t-trainer; this binary adds --strategy and
each task's TF_CONFIG, prefixes each output line with its task, and kills every task when
it ends (Ctrl-C or SIGTERM first lets the trainers save a checkpoint). With
--restart_policy it restarts failed tasks as Kubeflow's operator would:

  t2t-local-cluster --strategy=multi_worker_mirrored --chief --num_workers=2 \\
      --restart_policy=exit_code -- --problem=... --output_dir=runs/mw --train_steps=1000
"""
import os

from t2t_lite.bin import common_flags
from t2t_lite.errors import UserError
from t2t_lite.training import cluster
from t2t_lite.training.local_cluster import LocalCluster, LocalClusterOptions

common_flags.define_flags(LocalClusterOptions)
common_flags.define_gin_flags()


def configuration():
  """LocalClusterOptions from the flags and gin (LocalCluster.*); the trainers' own gin
  goes after --."""
  common_flags.parse_gin(LocalClusterOptions)
  return LocalClusterOptions.from_config()


def main(argv):
  settings = configuration()
  trainer_flags = argv[1:]
  if not trainer_flags:
    raise UserError("give the t2t-trainer flags after --, e.g. t2t-local-cluster "
                    "--strategy=parameter_server -- --problem=... --model=... --output_dir=...")
  if any(f.startswith("--strategy") for f in trainer_flags):
    raise UserError("t2t-local-cluster sets the trainer's --strategy itself; give it "
                    "before the --")
  command = (common_flags.binary_command("t2t-trainer") +
             [f"--strategy={settings.strategy}"] + trainer_flags)
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  if settings.chief and settings.strategy != cluster.MULTI_WORKER:
    raise UserError("--chief adds a chief to a multi_worker_mirrored cluster; a "
                    "parameter_server cluster always has one")
  return LocalCluster(settings.strategy, settings, command, env).run()


def run():
  common_flags.run_main(main, "t2t-local-cluster")


if __name__ == "__main__":
  run()
