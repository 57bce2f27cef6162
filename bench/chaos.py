"""The cost of failures: one multi-worker run (a chief and 2 workers under t2t-local-cluster
--restart_policy=exit_code) uninterrupted, and the same run with a random task killed
(SIGKILL) at a random step, --kills times, each restarted. Prints the wall times and the
kills as one JSON line. Run from the repository with the data already generated:

  python bench/chaos.py --data_dir=~/t2t_data --train_steps=40 --kills=3 --seed=1

Both runs use --deterministic; the killed run must end with the weights of the
uninterrupted one (the input position of every task is in the checkpoints).
"""
import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

TINY = ("batch_size=256,hidden_size=32,filter_size=64,num_heads=2,num_hidden_layers=1,"
        "learning_rate_warmup_steps=10")
TASKS = ["chief:0", "worker:0", "worker:1"]


def cluster_command(data_dir, output_dir, steps):
  return [sys.executable, "-m", "t2t_lite.bin.t2t_local_cluster",
          "--strategy=multi_worker_mirrored", "--chief", "--num_workers=2",
          "--restart_policy=exit_code", "--backoff_limit=50", "--",
          "--problem=algorithmic_reverse_decimal40", "--model=transformer",
          "--hparams_set=transformer_tiny", f"--hparams={TINY}", f"--data_dir={data_dir}",
          f"--output_dir={output_dir}", f"--train_steps={steps}", "--schedule=train",
          "--local_eval_frequency=4", "--log_step_count_steps=1", "--deterministic"]


def run(data_dir, output_dir, steps, kills, rng):
  """Wall seconds of one cluster run, and the kills made: [(task, step)]."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
  start = time.time()
  proc = subprocess.Popen(cluster_command(data_dir, output_dir, steps), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  pids, made, training = {}, [], set()
  armed_at = rng.randint(2, steps - 2)
  for line in proc.stdout:
    started = re.search(r"started (\S+) \(pid (\d+)\)", line)
    if started:
      pids[started.group(1)] = int(started.group(2))
    trains = re.match(r"\[(\S+)\] training from step", line)
    if trains:
      training.add(trains.group(1))
    step = re.match(r"\[chief:0\] step (\d+)/", line)
    if step and len(made) < kills and training >= set(TASKS) and \
        armed_at <= int(step.group(1)) <= steps - 2:
      victim = rng.choice(TASKS)
      try:
        os.kill(pids[victim], signal.SIGKILL)
      except ProcessLookupError:
        continue
      made.append((victim, int(step.group(1))))
      training, armed_at = set(), rng.randint(1, steps - 2)
  if proc.wait() != 0:
    raise SystemExit(f"the cluster failed (status {proc.returncode})")
  return time.time() - start, made


def weights(output_dir):
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(output_dir))
  return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
          if n.startswith(("model/", "optimizer/")) and "VARIABLE_VALUE" in n}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--train_steps", type=int, default=40)
  parser.add_argument("--kills", type=int, default=3)
  parser.add_argument("--seed", type=int, default=1)
  args = parser.parse_args()
  data_dir = os.path.expanduser(args.data_dir)
  with tempfile.TemporaryDirectory() as tmp:
    straight, _ = run(data_dir, os.path.join(tmp, "straight"), args.train_steps, 0,
                      random.Random(args.seed))
    chaos, made = run(data_dir, os.path.join(tmp, "chaos"), args.train_steps, args.kills,
                      random.Random(args.seed))
    a, b = weights(os.path.join(tmp, "straight")), weights(os.path.join(tmp, "chaos"))
    identical = a.keys() == b.keys() and all(np.array_equal(a[n], b[n]) for n in a)
  print(json.dumps({"train_steps": args.train_steps, "seed": args.seed,
                    "uninterrupted_s": round(straight, 1), "with_kills_s": round(chaos, 1),
                    "kills": made, "identical_weights": identical}))
  if not identical:
    sys.exit("chaos.py: the run with kills ended with other weights than the uninterrupted "
             "one (see the JSON line above)")


if __name__ == "__main__":
  main()
