"""Preemption through the binary: SIGTERM saves and exits 0; SIGKILL loses nothing that a
deterministic rerun cannot reproduce bit for bit."""
import os
import signal
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.bin.helpers import TINY, run, start

pytestmark = pytest.mark.slow
PROBLEM = "algorithmic_reverse_decimal40"




def _args(data_dir, out, steps, *extra):
  return [f"--problem={PROBLEM}", "--model=transformer", "--hparams_set=transformer_tiny",
          f"--hparams={TINY}", f"--data_dir={data_dir}", f"--output_dir={out}",
          f"--train_steps={steps}", "--schedule=train", *extra]


def _wait_for(predicate, timeout=240):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if predicate():
      return True
    time.sleep(0.2)
  raise AssertionError("timed out")


def _checkpoint_steps(out):
  return sorted(int(f.split("-")[1].split(".")[0]) for f in os.listdir(out)
                if f.startswith("model.ckpt-") and f.endswith(".index"))


def test_sigterm_saves_at_the_next_step_and_exits_0(data_dir, tmp_path):
  out = str(tmp_path / "run")
  proc = start("t2t-trainer", *_args(data_dir, out, 100000, "--local_eval_frequency=100000",
                                     "--log_step_count_steps=2"))
  lines = []
  _wait_for(lambda: lines.append(proc.stdout.readline()) or "step 4/" in lines[-1])
  proc.send_signal(signal.SIGTERM)
  rest, _ = proc.communicate(timeout=120)
  assert proc.returncode == 0, "".join(lines) + rest
  said = [l for l in rest.splitlines() if "received SIGTERM" in l]
  assert len(said) == 1 and "rerun the same command to resume" in said[0]
  step = int(said[0].split("at step ")[1].split(":")[0])
  assert _checkpoint_steps(out) == [step]
  resumed = run("t2t-trainer", *_args(data_dir, out, step + 2))
  assert f"training from step {step} to {step + 2}" in resumed.stdout


def _final_variables(out):
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(out))
  names = [n for n in reader.get_variable_to_shape_map()
           if n.startswith(("model/", "optimizer/")) and "VARIABLE_VALUE" in n]
  return {n: reader.get_tensor(n) for n in names}


def test_killed_deterministic_run_ends_bit_identical(data_dir, tmp_path):
  steps = 24
  common = ("--deterministic", "--local_eval_frequency=4", "--log_step_count_steps=4")
  straight = str(tmp_path / "straight")
  run("t2t-trainer", *_args(data_dir, straight, steps, *common))

  killed = str(tmp_path / "killed")
  proc = start("t2t-trainer", *_args(data_dir, killed, steps, *common))
  _wait_for(lambda: os.path.isdir(killed) and any(s >= 8 for s in _checkpoint_steps(killed)))
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert max(_checkpoint_steps(killed)) < steps
  resumed = run("t2t-trainer", *_args(data_dir, killed, steps, *common))
  assert "restored" in resumed.stdout

  a, b = _final_variables(straight), _final_variables(killed)
  assert a.keys() == b.keys() and len(a) > 50
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_killed_mirrored_run_ends_bit_identical(data_dir, tmp_path):
  """2 logical-CPU replicas: each replica's input position is in the checkpoint."""
  steps = 20
  common = ("--deterministic", "--strategy=mirrored", "--worker_gpu=2",
            "--local_eval_frequency=4", "--log_step_count_steps=4")
  straight = str(tmp_path / "straight")
  run("t2t-trainer", *_args(data_dir, straight, steps, *common))

  killed = str(tmp_path / "killed")
  proc = start("t2t-trainer", *_args(data_dir, killed, steps, *common))
  # Killed once a checkpoint is complete (TensorFlow lists it in `checkpoint` last).
  _wait_for(lambda: os.path.isdir(killed) and tf.train.latest_checkpoint(killed))
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert max(_checkpoint_steps(killed)) < steps
  resumed = run("t2t-trainer", *_args(data_dir, killed, steps, *common))
  assert "restored" in resumed.stdout and "cannot be checkpointed" not in resumed.stdout

  a, b = _final_variables(straight), _final_variables(killed)
  assert a.keys() == b.keys() and len(a) > 50
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)
