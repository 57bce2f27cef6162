"""gin through the binaries: a run rebuilt from its config.gin alone is the same run, and
flags given on the command line win over gin files."""
import json
import re

import pytest

from tests.bin.helpers import TINY, error_lines, run

pytestmark = pytest.mark.slow
PROBLEM = "algorithmic_reverse_decimal40"


def _first_loss(stdout):
  return re.search(r"^step 1/\d+  loss (\S+)", stdout, re.M).group(1)


def test_config_gin_reproduces_the_run(data_dir, tmp_path):
  first, again, short = (tmp_path / n for n in ("first", "again", "short"))
  proc = run("t2t-trainer", f"--problem={PROBLEM}", "--model=transformer",
             "--hparams_set=transformer_tiny", f"--hparams={TINY}", f"--data_dir={data_dir}",
             "--gin_param=hparams.learning_rate_constant = 0.7",
             "--gin_param=make_dataset.shuffle_buffer_size = 500", f"--output_dir={first}",
             "--train_steps=3", "--log_step_count_steps=1", "--local_eval_frequency=3",
             "--eval_steps=1", "--random_seed=7", "--deterministic")
  config = (first / "config.gin").read_text()
  for line in ("experiment.problem = 'algorithmic_reverse_decimal40'",
               f"experiment.data_dir = '{data_dir}'", "hparams.learning_rate_constant = 0.7",
               "hparams.hidden_size = 32", "Trainer.train_steps = 3", "Trainer.seed = 7",
               "run.deterministic = True", "make_dataset.shuffle_buffer_size = 500"):
    assert line in config, line
  rebuilt = run("t2t-trainer", f"--gin_file={first / 'config.gin'}", f"--output_dir={again}")
  assert json.loads((again / "hparams.json").read_text()) == \
      json.loads((first / "hparams.json").read_text())
  assert (again / "config.gin").read_text() == config
  assert _first_loss(rebuilt.stdout) == _first_loss(proc.stdout)

  # A flag given on the command line wins over the gin file.
  shorter = run("t2t-trainer", f"--gin_file={first / 'config.gin'}", "--train_steps=1",
                "--schedule=train", f"--output_dir={short}")
  assert "step 1/1" in shorter.stdout and _first_loss(shorter.stdout) == _first_loss(proc.stdout)


def test_bad_gin_param_is_one_line(tmp_path):
  proc = run("t2t-trainer", "--gin_param=Trainer.train_step = 3",
             f"--output_dir={tmp_path / 'x'}", check=False)
  assert proc.returncode == 2
  lines = error_lines(proc.stderr)
  assert len(lines) == 1 and "did you mean train_steps" in lines[0], proc.stderr
  assert not (tmp_path / "x").exists()
