"""Multi-process training on localhost through t2t-local-cluster: multi-worker mirrored
(identical weights, resume after a failure, one agreed save when one worker is signalled,
bit-identical resume, random kills with restarts) and parameter servers (a killed worker
does not stop training; a killed ps task restarts and the run resumes; the checkpoint
decodes; shards spread over the ps tasks)."""
import json
import os
import random
import re
import signal
import subprocess
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.bin.helpers import ENV, TINY, launcher, python_c, run

pytestmark = pytest.mark.slow
PROBLEM = "algorithmic_reverse_decimal40"


def _trainer_flags(data_dir, out, steps, *extra):
  return ["--", f"--problem={PROBLEM}", "--model=transformer",
          "--hparams_set=transformer_tiny", f"--hparams={TINY},symbol_modality_num_shards=2",
          f"--data_dir={data_dir}", f"--output_dir={out}", f"--train_steps={steps}",
          "--schedule=train", *extra]


class Cluster:
  """t2t-local-cluster in the background; on_line(line, cluster) sees each output line."""

  def __init__(self, strategy, flags, num_ps=1, extra=()):
    self.proc = subprocess.Popen(
        launcher("t2t-local-cluster") + [f"--strategy={strategy}", "--num_workers=2",
                                       f"--num_ps={num_ps}", *extra] + flags,
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
        servers.append(subprocess.Popen(launcher("t2t-trainer") + ["--strategy=parameter_server"],
                                        env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
    env = dict(ENV, TF_CONFIG=json.dumps({"cluster": spec, "task": {"type": "chief", "index": 0}}))
    chief = subprocess.run(python_c() + [CHIEF], env=env, capture_output=True,
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


def _final_variables(out):
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(out))
  names = [n for n in reader.get_variable_to_shape_map()
           if n.startswith(("model/", "optimizer/")) and "VARIABLE_VALUE" in n]
  return {n: reader.get_tensor(n) for n in names}


def test_sigterm_to_one_worker_stops_all_after_one_save_and_resumes_bit_identical(data_dir,
                                                                                tmp_path):
  def flags(out):
    return _trainer_flags(data_dir, out, 8, "--local_eval_frequency=4", "--deterministic",
                          "--log_step_count_steps=1", "--all_reduce=ring")
  straight = str(tmp_path / "straight")
  uninterrupted = Cluster("multi_worker_mirrored", flags(straight))
  assert uninterrupted.follow() == 0, uninterrupted.output

  stopped = str(tmp_path / "stopped")

  def sigterm_worker_1_mid_run(line, cluster):
    if re.search(r"\[worker:0\] step [23]/8", line) and not cluster.signalled:
      cluster.signalled = True
      os.kill(cluster.pids["worker:1"], signal.SIGTERM)
  first = Cluster("multi_worker_mirrored", flags(stopped))
  first.signalled = False
  assert first.follow(sigterm_worker_1_mid_run) == 143, first.output
  said = [m for task in ("worker:0", "worker:1")
          for m in _said(first.lines, task, r"received (.*) at step (\d+): saved")]
  assert sorted(m.group(1) for m in said) == ["SIGTERM", "a stop request from another task"]
  step = int(said[0].group(2))
  assert int(said[1].group(2)) == step and 2 <= step < 8, first.output
  assert tf.train.latest_checkpoint(stopped).endswith(f"model.ckpt-{step}")
  for rank in (0, 1):  # each worker's input position, beside the chief's checkpoint
    assert os.path.exists(os.path.join(stopped, "train_input", f"rank-{rank}-of-2",
                                       f"model.ckpt-{step}.index"))

  second = Cluster("multi_worker_mirrored", flags(stopped))
  assert second.follow() == 0, second.output
  for task in ("worker:0", "worker:1"):
    assert _said(second.lines, task, rf"training from step {step} to 8"), second.output
  a, b = _final_variables(straight), _final_variables(stopped)
  assert a.keys() == b.keys() and len(a) > 50
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_parameter_server_resumes_after_a_ps_task_is_killed_and_restarted(data_dir, tmp_path):
  out = str(tmp_path / "ps")
  flags = _trainer_flags(data_dir, out, 20, "--local_eval_frequency=10",
                         "--log_step_count_steps=5")

  def kill_ps_after_a_checkpoint(line, cluster):
    if "saved checkpoint" in line and "model.ckpt-10" in line and not cluster.killed:
      cluster.killed = True
      cluster.kill("ps:0")
  cluster = Cluster("parameter_server", flags, num_ps=1,
                    extra=["--restart_policy=exit_code", "--backoff_limit=4"])
  cluster.killed = False
  assert cluster.follow(kill_ps_after_a_checkpoint, timeout=420) == 0, cluster.output
  assert "ps:0 exited (signal 9); restarting it" in cluster.output
  assert "chief:0 exited (status 143); restarting it" in cluster.output
  assert _said(cluster.lines, "chief:0", r"restored .*model\.ckpt-10 \(step 10\)")
  assert _said(cluster.lines, "chief:0", r"saved checkpoint .*model\.ckpt-20")


def test_multi_worker_survives_random_kills(data_dir, tmp_path):
  """The chaos test: a chief and 2 workers; 3 times a random task is killed with SIGKILL
  at a random step and restarted; the run reaches train_steps and its checkpoint decodes."""
  seed = int(os.environ.get("CHAOS_SEED", time.time()))
  rng = random.Random(seed)
  steps = 24
  out = str(tmp_path / "chaos")
  flags = _trainer_flags(data_dir, out, steps, "--local_eval_frequency=4",
                         "--log_step_count_steps=1")
  tasks = ["chief:0", "worker:0", "worker:1"]
  kills = []  # (task, the step at which it was killed)
  state = {"armed_at": rng.randint(2, steps - 2), "training": set()}

  def kill_at_random_steps(line, cluster):
    started = re.match(r"\[(\S+)\] training from step", line)
    if started:
      state["training"].add(started.group(1))
    step = re.match(r"\[chief:0\] step (\d+)/", line)
    # Armed once every task trains again after the last kill, at a random later step.
    # (Not in the last steps: a finished peer would not come back to meet the victim.)
    if step and len(kills) < 3 and state["training"] >= set(tasks) and \
        state["armed_at"] <= int(step.group(1)) <= steps - 2:
      victim = rng.choice(tasks)
      try:
        cluster.kill(victim)
      except ProcessLookupError:
        return  # it is gone already; the next step arms again
      kills.append((victim, int(step.group(1))))
      state["training"] = set()
      state["armed_at"] = rng.randint(1, steps - 2)
  start = time.time()
  cluster = Cluster("multi_worker_mirrored", flags,
                    extra=["--chief", "--restart_policy=exit_code", "--backoff_limit=20"])
  code = cluster.follow(kill_at_random_steps, timeout=900)
  print(f"chaos seed {seed}: kills {kills}, {time.time() - start:.0f} s")
  assert code == 0, f"seed {seed}, kills {kills}\n" + cluster.output
  assert len(kills) == 3, f"seed {seed}: only {kills} before the run ended\n" + cluster.output
  prints = {m.group(1) for task in tasks
            for m in _said(cluster.lines, task, r"all 3 workers hold identical weights "
                                                r"\(fingerprint (\w+)\)")}
  assert len(prints) == 1, cluster.output
  assert os.path.exists(os.path.join(out, f"model.ckpt-{steps}.index"))
  src = tmp_path / "in.txt"
  src.write_text("1 2 3\n")
  decoded = run("t2t-decoder", f"--output_dir={out}", f"--decode_from_file={src}",
                "--decode_hparams=beam_size=1,extra_length=5")
  assert all(t.isdigit() for t in decoded.stdout.split()) and decoded.stdout.split()
