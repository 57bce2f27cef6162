"""t2t-sweep end to end: a 2x2 grid of tiny transformers, its report, a rerun that starts
nothing, printed commands, and a sweep with a mistake that starts nothing at all."""
import csv
import os

import pytest

from tests.bin.helpers import TINY, error_lines, run, tiny_sweep_file

pytestmark = pytest.mark.slow
PROBLEM = "algorithmic_reverse_decimal40"


def _sweep_file(path, data_dir, extra):
  # num_hidden_layers is left to the grids.
  tiny = ",".join(kv for kv in TINY.split(",") if not kv.startswith("num_hidden_layers"))
  return tiny_sweep_file(path, PROBLEM, data_dir, 20, extra, hparams=tiny)


def _trial_dirs(out):
  return sorted(d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d)))


def test_grid_sweep_report_rerun_and_commands(data_dir, tmp_path):
  import tensorflow as tf
  sweep = _sweep_file(tmp_path / "grid.toml", data_dir, """
[grid]
learning_rate_constant = [0.5, 1.0]
num_hidden_layers = [1, 2]
""")
  out = str(tmp_path / "sweep")
  proc = run("t2t-sweep", f"--sweep_file={sweep}", f"--output_dir={out}", "--parallel=2",
             timeout=600)
  assert "validated 4 trial(s)" in proc.stdout and "0 finished, 4 to run" in proc.stdout
  assert proc.stdout.count(" done  ") == 4
  trials = _trial_dirs(out)
  assert len(trials) == 4
  assert "learning_rate_constant=0.5,num_hidden_layers=1-" in trials[0]
  for trial in trials:
    files = os.listdir(os.path.join(out, trial))
    assert {"config.gin", "hparams.json", "train.log", "eval"} <= set(files)
  with open(os.path.join(out, "summary.csv")) as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 4 and {r["trial"] for r in rows} == set(trials)
  assert all(r["status"] == "finished" and r["step"] == "20" for r in rows)
  scores = [float(r["neg_log_perplexity"]) for r in rows]
  assert scores == sorted(scores, reverse=True) and all(s < 0 for s in scores)
  assert {"hparams.learning_rate_constant", "hparams.num_hidden_layers"} <= set(rows[0])
  assert len(open(os.path.join(out, "summary.md")).read().splitlines()) == 2 + 4
  image = tf.io.decode_png(tf.io.read_file(os.path.join(out, "eval_curves.png")))
  assert image.shape[0] > 100 and image.shape[1] > 100

  checkpoints = {t: sorted(os.listdir(os.path.join(out, t))) for t in trials}
  again = run("t2t-sweep", f"--sweep_file={sweep}", f"--output_dir={out}", "--parallel=2")
  assert "4 finished, 0 to run" in again.stdout and " start " not in again.stdout
  assert {t: sorted(os.listdir(os.path.join(out, t))) for t in trials} == checkpoints

  printed = run("t2t-sweep", f"--sweep_file={sweep}", f"--output_dir={out}",
                "--print_commands").stdout.strip().splitlines()
  assert len(printed) == 4 and all(l.startswith("t2t-trainer ") for l in printed)
  assert "'--gin_param=hparams.num_hidden_layers = 2'" in printed[1]
  assert printed[1].endswith(f"--output_dir={os.path.join(out, trials[1])}")


def test_a_mistake_in_any_trial_starts_nothing(data_dir, tmp_path):
  sweep = _sweep_file(tmp_path / "bad.toml", data_dir, """
[zip]
experiment.model = ["transformer", "transfromer"]
""")
  out = tmp_path / "sweep"
  proc = run("t2t-sweep", f"--sweep_file={sweep}", f"--output_dir={out}", check=False)
  assert proc.returncode == 2
  lines = error_lines(proc.stderr)
  assert len(lines) == 1, proc.stderr
  assert lines[0].startswith("t2t-sweep: error: trial 2 (model=transfromer): unknown model "
                             "'transfromer'; did you mean transformer?")
  assert not out.exists()
