"""Multi-process training on localhost through t2t-local-cluster: multi-worker mirrored
(identical weights, resume after a failure) and parameter servers (a killed worker does
not stop training; the checkpoint decodes; shards spread over the ps tasks)."""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.bin.helpers import ENV, TINY, binary, run

pytestmark = pytest.mark.slow
PROBLEM = "algorithmic_reverse_decimal40"


def _trainer_flags(data_dir, out, steps, *extra):
  return ["--", f"--problem={PROBLEM}", "--model=transformer",
          "--hparams_set=transformer_tiny", f"--hparams={TINY},symbol_modality_num_shards=2",
          f"--data_dir={data_dir}", f"--output_dir={out}", f"--train_steps={steps}",
          "--schedule=train", *extra]


class Cluster:
  """t2t-local-cluster in the background; on_line(line, cluster) sees each output line."""

  def __init__(self, strategy, flags, num_ps=1):
    self.proc = subprocess.Popen(
        binary("t2t-local-cluster") + [f"--strategy={strategy}", "--num_workers=2",
                                       f"--num_ps={num_ps}"] + flags,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    self.lines, self.pids = [], {}

  def follow(self, on_line=None, timeout=240):
    deadline = time.time() + timeout
    try:
      for line in self.proc.stdout:
        self.lines.append(line)
        started = re.search(r"started (\S+) \(pid (\d+)\)", line)
        if started:
          self.pids[started.group(1)] = int(started.group(2))
        if on_line:
          on_line(line, self)
        if time.time() > deadline:
          raise AssertionError("cluster timed out:\n" + self.output)
      return self.proc.wait(timeout=30)
    finally:
      if self.proc.poll() is None:
        self.proc.kill()  # the kernel then kills its tasks (PR_SET_PDEATHSIG)
        self.proc.wait()

  @property
  def output(self):
    return "".join(self.lines)

  def kill(self, task):
    os.kill(self.pids[task], signal.SIGKILL)

  def all_tasks_gone(self):
    for pid in self.pids.values():
      try:
        os.kill(pid, 0)
      except ProcessLookupError:
        continue
      return False
    return True


def _said(lines, task, pattern):
  return [m for l in lines if l.startswith(f"[{task}]") for m in [re.search(pattern, l)] if m]


def test_multi_worker_mirrored_stays_identical_and_resumes_after_a_failure(data_dir, tmp_path):
  out = str(tmp_path / "mwms")
  flags = _trainer_flags(data_dir, out, 16, "--local_eval_frequency=2",
                         "--log_step_count_steps=2")

  def kill_after_first_checkpoint(line, cluster):
    if "saved checkpoint" in line and "worker:1" in cluster.pids and not cluster.killed:
      cluster.killed = True
      cluster.kill("worker:1")
  first = Cluster("multi_worker_mirrored", flags)
  first.killed = False
  code = first.follow(kill_after_first_checkpoint)
  assert first.killed and code != 0, first.output
  assert "worker:1 failed (signal 9); stopping the others" in first.output
  assert first.all_tasks_gone()

  second = Cluster("multi_worker_mirrored", flags)
  assert second.follow() == 0, second.output
  lines = second.lines
  restored = [int(m.group(1)) for m in _said(lines, "worker:0", r"restored .* \(step (\d+)\)")]
  assert len(restored) == 1 and 2 <= restored[0] < 16, second.output
  for task in ("worker:0", "worker:1"):
    assert _said(lines, task, rf"training from step {restored[0]} to 16"), second.output
  prints = [m.group(1) for task in ("worker:0", "worker:1")
            for m in _said(lines, task,
                           r"all 2 workers hold identical weights \(fingerprint (\w+)\)")]
  assert len(prints) == 2 and prints[0] == prints[1], second.output
  # Only the chief's checkpoints and summaries are kept.
  assert _said(lines, "worker:0", "saved checkpoint") and not _said(lines, "worker:1",
                                                                    "saved checkpoint")
  assert os.path.exists(os.path.join(out, "model.ckpt-16.index"))


def test_parameter_server_survives_a_killed_worker_and_its_checkpoint_decodes(data_dir,
                                                                              tmp_path):
  out = str(tmp_path / "ps")
  flags = _trainer_flags(data_dir, out, 40, "--local_eval_frequency=20",
                         "--log_step_count_steps=5")

  def kill_mid_training(line, cluster):
    if re.search(r"\[chief:0\] step 5/40", line):
      cluster.kill("worker:1")
  cluster = Cluster("parameter_server", flags, num_ps=2)
  assert cluster.follow(kill_mid_training) == 0, cluster.output
  assert "worker:1 exited (signal 9); training goes on" in cluster.output
  steps = [int(m.group(1)) for m in _said(cluster.lines, "chief:0", r"step (\d+)/40")]
  assert steps[0] == 5 and steps[-1] == 40 and len(steps) >= 3, cluster.output
  assert _said(cluster.lines, "chief:0", r"saved checkpoint .*model\.ckpt-40")
  assert cluster.all_tasks_gone()

  src = tmp_path / "in.txt"
  src.write_text("1 2 3\n4 5\n")
  decoded = run("t2t-decoder", f"--output_dir={out}", f"--decode_from_file={src}",
                "--decode_hparams=beam_size=1,extra_length=5")
  outputs = decoded.stdout.strip().splitlines()
  assert len(outputs) == 2 and all(o.split() and all(t.isdigit() for t in o.split())
                                   for o in outputs), decoded.stdout


CHIEF = textwrap.dedent('''
    import tensorflow as tf
    from t2t_lite import experiment, registry
    from t2t_lite.training import strategies
    strategy = strategies.make_strategy("parameter_server")
    experiment.load_registrations()
    hp = registry.hparams("transformer_tiny").parse(
        "hidden_size=16,filter_size=32,num_heads=2,num_hidden_layers=1,"
        "symbol_modality_num_shards=4")
    hp.input_vocab_size = hp.target_vocab_size = 13
    with strategy.scope():
      model = registry.model("transformer")(hp)
      model.build_from_features({"inputs": tf.ones([1, 1], tf.int32),
                                 "targets": tf.ones([1, 1], tf.int32)})
    for shard in model.embedding.shards:
      print("SHARD", shard.value.device)
''')


def test_parameter_server_places_embedding_shards_round_robin(tmp_path):
  from t2t_lite.training.local_cluster import cluster_spec
  spec = cluster_spec("parameter_server", num_workers=1, num_ps=2)
  servers = []
  try:
    for job in ("ps", "worker"):
      for i in range(len(spec[job])):
        env = dict(ENV, TF_CONFIG=json.dumps({"cluster": spec, "task": {"type": job, "index": i}}))
        servers.append(subprocess.Popen(binary("t2t-trainer") + ["--strategy=parameter_server"],
                                        env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
    env = dict(ENV, TF_CONFIG=json.dumps({"cluster": spec, "task": {"type": "chief", "index": 0}}))
    chief = subprocess.run([sys.executable, "-c", CHIEF], env=env, capture_output=True,
                           text=True, timeout=180)
  finally:
    for server in servers:
      server.kill()
      server.wait()
  assert chief.returncode == 0, chief.stderr[-3000:]
  tasks = [re.search(r"/job:ps/replica:0/task:(\d+)", l).group(1)
           for l in chief.stdout.splitlines() if l.startswith("SHARD")]
  assert len(tasks) == 4, chief.stdout
  # Consecutive shards on alternating ps tasks: one table spread over both.
  assert tasks[0] != tasks[1] and tasks[:2] == tasks[2:], tasks
