"""End to end through the binaries: datagen, train, resume, decode, and bad names."""
import os
import signal
import time

import pytest

from tests.bin.helpers import TINY, error_lines, run, start

pytestmark = pytest.mark.slow
PROBLEM = "algorithmic_reverse_decimal40"




def _train(data_dir, out, steps, *extra, **kwargs):
  return run("t2t-trainer", f"--problem={PROBLEM}", "--model=transformer",
             "--hparams_set=transformer_tiny", f"--hparams={TINY}", f"--data_dir={data_dir}",
             f"--output_dir={out}", f"--train_steps={steps}", "--local_eval_frequency=10",
             "--log_step_count_steps=5", "--eval_steps=2", *extra, **kwargs)


def test_train_resume_and_decode(data_dir, tmp_path):
  out = str(tmp_path / "run")
  first = _train(data_dir, out, 20)
  assert "step 20/20" in first.stdout and "accuracy_per_sequence" in first.stdout
  files = os.listdir(out)
  assert {"hparams.json", "run.json", "checkpoint", "eval"} <= set(files)
  assert any(f.startswith("model.ckpt-20") for f in files)
  assert any(f.startswith("events.out.tfevents") for f in files)

  again = _train(data_dir, out, 30)
  assert "(step 20)" in again.stdout and "training from step 20 to 30" in again.stdout
  assert any(f.startswith("model.ckpt-30") for f in os.listdir(out))

  inputs = tmp_path / "in.txt"
  inputs.write_text("1 2 3\n4 5 6 7 8\n9\n")
  decoded = tmp_path / "out.txt"
  run("t2t-decoder", f"--data_dir={data_dir}", f"--output_dir={out}",
      f"--decode_from_file={inputs}", f"--decode_to_file={decoded}",
      "--decode_hparams=beam_size=4,alpha=0.6,extra_length=5")
  lines = decoded.read_text().splitlines()
  assert len(lines) == 3  # one output per input line, in order
  symbols = set("0123456789 ")
  assert all(set(l) <= symbols for l in lines)

  interactive = run("t2t-decoder", f"--data_dir={data_dir}", f"--output_dir={out}",
                    "--decode_interactive", "--decode_hparams=beam_size=1,extra_length=5",
                    input="1 2 3\n4 x\n")
  replies = interactive.stdout.splitlines()
  assert len(replies) == 2 and replies[1].startswith("error:") and "'x'" in replies[1]


def test_killed_run_resumes_from_last_checkpoint(data_dir, tmp_path):
  out = str(tmp_path / "run")
  proc = start("t2t-trainer", f"--problem={PROBLEM}", "--model=transformer",
               "--hparams_set=transformer_tiny", f"--hparams={TINY}", f"--data_dir={data_dir}",
               f"--output_dir={out}", "--train_steps=100000", "--local_eval_frequency=5",
               "--schedule=train", "--log_step_count_steps=5")
  deadline = time.time() + 240
  while time.time() < deadline:
    if os.path.exists(out) and any(f.startswith("model.ckpt-10.index") for f in os.listdir(out)):
      break
    time.sleep(0.5)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  # The newest complete checkpoint: the kill may land while a later one is half written,
  # which the index file (updated last) does not list yet.
  import tensorflow as tf
  last = int(tf.train.latest_checkpoint(out).rsplit("-", 1)[1])
  assert last >= 10
  resumed = _train(data_dir, out, last + 5, "--schedule=train")
  assert f"training from step {last} to {last + 5}" in resumed.stdout


@pytest.mark.parametrize("flag,bad,suggested", [
    ("--problem", "algorithmic_reverse_decimal4", "algorithmic_reverse_decimal40"),
    ("--model", "transfromer", "transformer"),
    ("--hparams_set", "transformer_tiney", "transformer_tiny"),
    ("--hparams", "num_hiden_layers=3", "num_hidden_layers"),
])
def test_bad_names_fail_in_one_line_and_write_nothing(data_dir, tmp_path, flag, bad, suggested):
  args = {"--problem": PROBLEM, "--model": "transformer", "--hparams_set": "transformer_tiny",
          "--hparams": ""}
  args[flag] = bad
  out = tmp_path / "never"
  proc = run("t2t-trainer", *(f"{k}={v}" for k, v in args.items()), f"--data_dir={data_dir}",
             f"--output_dir={out}", "--train_steps=1", check=False)
  assert proc.returncode == 2
  lines = error_lines(proc.stderr)
  assert len(lines) == 1, proc.stderr
  assert lines[0].startswith("t2t-trainer: error:") and suggested in lines[0]
  assert not out.exists()


def test_output_dir_of_another_problem_is_refused(data_dir, tmp_path):
  out = str(tmp_path / "run")
  _train(data_dir, out, 1)
  proc = run("t2t-trainer", "--problem=algorithmic_identity_decimal40", "--model=transformer",
             "--hparams_set=transformer_tiny", f"--hparams={TINY}", f"--data_dir={data_dir}",
             f"--output_dir={out}", "--train_steps=2", check=False)
  assert proc.returncode == 2
  assert "holds a run of problem 'algorithmic_reverse_decimal40'" in proc.stderr


def test_mirrored_strategy_on_logical_cpus_trains_and_decodes(data_dir, tmp_path):
  out = str(tmp_path / "run")
  trained = _train(data_dir, out, 4, "--strategy=mirrored", "--worker_gpu=2")
  assert "step 4/4" in trained.stdout and "eval at step 4" in trained.stdout
  (tmp_path / "in.txt").write_text("1 2 3\n")
  decoded = run("t2t-decoder", f"--output_dir={out}", f"--decode_from_file={tmp_path / 'in.txt'}",
                "--decode_hparams=beam_size=2,extra_length=3")
  assert len(decoded.stdout.strip().splitlines()) == 1
