"""A user's own problem, model and hparams set, registered from --t2t_usr_dir."""
import pytest

from tests.bin.helpers import run
from tests.usr_dir_example import write_usr_dir

pytestmark = pytest.mark.slow

def test_user_problem_and_model_train_and_decode(tmp_path):
  usr = write_usr_dir(tmp_path / "my_t2t")
  out = tmp_path / "run"
  common = [f"--t2t_usr_dir={usr}", f"--output_dir={out}"]
  listing = run("t2t-trainer", "--registry_help", f"--t2t_usr_dir={usr}").stdout
  assert "* letter_doubling" in listing and "* gru_seq2seq" in listing
  trained = run("t2t-trainer", "--generate_data", "--problem=letter_doubling",
                "--model=gru_seq2seq", "--hparams_set=gru_seq2seq_tiny", "--train_steps=30",
                "--local_eval_frequency=30", "--log_step_count_steps=10", *common)
  assert "step 30/30" in trained.stdout and "accuracy" in trained.stdout
  (tmp_path / "in.txt").write_text("a b\nc\n")
  decoded = run("t2t-decoder", f"--decode_from_file={tmp_path / 'in.txt'}",
                "--decode_hparams=beam_size=2,extra_length=4", *common)
  lines = decoded.stdout.strip().splitlines()
  assert len(lines) == 2 and all(set(l) <= set("abcdef ") for l in lines)


def test_broken_usr_dir_shows_its_own_traceback(tmp_path):
  usr = tmp_path / "broken_usr"
  usr.mkdir()
  (usr / "__init__.py").write_text("import not_a_module_anywhere\n")
  proc = run("t2t-trainer", "--registry_help", f"--t2t_usr_dir={usr}", check=False)
  assert proc.returncode != 0
  assert "not_a_module_anywhere" in proc.stderr and "__init__.py" in proc.stderr
