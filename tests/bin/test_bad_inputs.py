"""The bad-input catalog (docs/how-to/preemption.md): each mistake is one line, exit 2,
nothing overwritten."""
import os

import pytest

from tests.bin.helpers import TINY, error_lines, run

pytestmark = pytest.mark.slow
PROBLEM = "algorithmic_reverse_decimal40"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  root = tmp_path_factory.mktemp("trained")
  data, out = str(root / "data"), str(root / "run")
  run("t2t-trainer", "--generate_data", f"--problem={PROBLEM}", "--model=transformer",
      "--hparams_set=transformer_tiny", f"--hparams={TINY}", f"--data_dir={data}",
      f"--output_dir={out}", "--train_steps=2", "--schedule=train")
  return data, out


def _one_line_error(proc, *fragments):
  assert proc.returncode == 2, proc.stdout + proc.stderr
  lines = error_lines(proc.stderr)
  assert len(lines) == 1, proc.stderr
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  return lines[0]


def _snapshot(path):
  return {f: os.path.getmtime(os.path.join(path, f)) for f in os.listdir(path)}


def test_vocabulary_that_does_not_match_the_run(trained, tmp_path):
  data, out = trained
  other = tmp_path / "data"
  other.mkdir()
  for f in os.listdir(data):
    if os.path.isfile(os.path.join(data, f)):
      os.link(os.path.join(data, f), other / f)
  vocab = other / f"vocab.{PROBLEM}.txt"
  text = vocab.read_text()
  vocab.unlink()
  vocab.write_text(text + "extra\n")
  before = _snapshot(out)
  proc = run("t2t-trainer", f"--problem={PROBLEM}", "--model=transformer",
             "--hparams_set=transformer_tiny", f"--hparams={TINY}", f"--data_dir={other}",
             f"--output_dir={out}", "--train_steps=4", check=False)
  _one_line_error(proc, "vocabulary", "13 tokens")
  assert _snapshot(out) == before


def test_decoder_input_problems(trained, tmp_path):
  data, out = trained
  missing = run("t2t-decoder", f"--output_dir={out}", f"--decode_from_file={tmp_path}/nope.txt",
                check=False)
  _one_line_error(missing, "nope.txt does not exist")
  latin1 = tmp_path / "latin1.txt"
  latin1.write_bytes(b"1 2 3\n4 \xe9 5\n")
  bad_text = run("t2t-decoder", f"--output_dir={out}", f"--decode_from_file={latin1}",
                 check=False)
  _one_line_error(bad_text, "latin1.txt line 2 is not UTF-8")
  unknown = tmp_path / "unknown.txt"
  unknown.write_text("1 2\n3 x 4\n")
  bad_token = run("t2t-decoder", f"--output_dir={out}", f"--decode_from_file={unknown}",
                  check=False)
  _one_line_error(bad_token, "unknown.txt line 2", "'x'")
  bad_hparams = run("t2t-decoder", f"--output_dir={out}", "--decode_hparams=beam_sise=2",
                    check=False)
  _one_line_error(bad_hparams, "beam_size", "--decode_hparams")


def test_missing_data_dir_and_malformed_hparams(tmp_path):
  out = tmp_path / "run"
  proc = run("t2t-trainer", f"--problem={PROBLEM}", "--model=transformer",
             "--hparams_set=transformer_tiny", f"--data_dir={tmp_path}/empty",
             f"--output_dir={out}", "--train_steps=4", check=False)
  _one_line_error(proc, "t2t-datagen --problem=" + PROBLEM)
  assert not out.exists()
  proc = run("t2t-trainer", f"--problem={PROBLEM}", "--model=transformer",
             "--hparams_set=transformer_tiny", "--hparams=num_hidden_layers",
             f"--output_dir={out}", "--train_steps=4", check=False)
  _one_line_error(proc, "expected name=value")
  assert not out.exists()
