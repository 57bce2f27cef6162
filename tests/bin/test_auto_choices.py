"""t2t-trainer's per-machine choices, end to end: the thread pools and activation_dtype=auto
are logged, the run records the dtype auto became, a rerun resumes in it, and the decoder
builds the same model."""
import json
import os

import pytest

from tests.bin import helpers
from tests.bin.helpers import TINY, error_lines, run

pytestmark = pytest.mark.slow


def test_auto_dtype_is_recorded_resumed_and_decoded(data_dir, tmp_path, monkeypatch):
  # The probe's cache goes to a fresh folder: the first run measures, as on a new machine.
  monkeypatch.setitem(helpers.ENV, "T2T_LITE_CACHE_DIR", str(tmp_path / "cache"))
  out = str(tmp_path / "run")
  args = ["--problem=algorithmic_reverse_decimal40", "--model=transformer",
          "--hparams_set=transformer_tiny", f"--hparams={TINY},activation_dtype=auto",
          f"--data_dir={data_dir}", f"--output_dir={out}", "--schedule=train"]
  first = run("t2t-trainer", *args, "--train_steps=2")
  assert "threads: " in first.stdout and "usable core(s)" in first.stdout
  assert "activation_dtype=auto -> " in first.stdout and "measured now" in first.stdout
  dtype = json.load(open(os.path.join(out, "hparams.json")))["activation_dtype"]
  assert dtype in ("float32", "bfloat16")
  assert f"hparams.activation_dtype = '{dtype}'" in open(os.path.join(out, "config.gin")).read()
  again = run("t2t-trainer", *args, "--train_steps=3")
  assert f"activation_dtype=auto -> {dtype} (the run being resumed trained in it)" in \
      again.stdout
  assert "restored" in again.stdout
  inputs = tmp_path / "in.txt"
  inputs.write_text("1 2 3\n")
  decoded = run("t2t-decoder", f"--output_dir={out}", f"--decode_from_file={inputs}",
                "--decode_hparams=beam_size=1")
  assert len(decoded.stdout.strip().splitlines()) == 1


def test_profile_steps_out_of_order_is_one_line(tmp_path):
  out = tmp_path / "run"
  proc = run("t2t-trainer", "--problem=algorithmic_reverse_decimal40", "--model=transformer",
             "--hparams_set=transformer_tiny", f"--output_dir={out}", "--profile_steps=5:2",
             check=False)
  assert proc.returncode == 2
  lines = error_lines(proc.stderr)
  assert len(lines) == 1 and "--profile_steps='5:2' must have 1 <= START <= END" in lines[0]
  assert not out.exists()
