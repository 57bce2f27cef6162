import pytest

from tests.bin.helpers import FAST, run, write_lines
from tests.problems.synthetic_language import corpus

PROBLEM = "algorithmic_reverse_decimal40"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  """The reverse problem's data, generated once by t2t-datagen for all binary tests."""
  d = str(tmp_path_factory.mktemp("reverse_data"))
  proc = run("t2t-datagen", f"--problem={PROBLEM}", f"--data_dir={d}")
  assert "wrote 100000 train examples" in proc.stdout
  return d


@pytest.fixture(scope="session")
def translation(tmp_path_factory):
  """transformer_tiny trained by the binaries on 3000 pairs of the synthetic language from
  two aligned files, with 300 held-out pairs (tests that use it write only into their own
  directories, so they may share it: test_text_binaries and test_serving)."""
  tmp_path = tmp_path_factory.mktemp("translation")
  pairs = corpus(3300, seed=0)
  train, test = pairs[:3000], pairs[3000:]
  src = write_lines(tmp_path / "train.src", [s for s, _ in train])
  tgt = write_lines(tmp_path / "train.tgt", [t for _, t in train])
  data, out = str(tmp_path / "data"), str(tmp_path / "run")
  run("t2t-datagen", "--problem=translate_from_files", f"--data_dir={data}",
      f"--problem_settings=train_source={src},train_target={tgt},approx_vocab_size=200")
  proc = run("t2t-trainer", "--problem=translate_from_files", f"--data_dir={data}",
             "--model=transformer", "--hparams_set=transformer_tiny", f"--output_dir={out}",
             "--train_steps=1000", "--local_eval_frequency=500", "--eval_decode_samples=20",
             f"--hparams={FAST}", timeout=900)
  return {"tmp": tmp_path, "out": out, "log": proc.stdout, "pairs": test,
          "test_src": write_lines(tmp_path / "test.src", [s for s, _ in test]),
          "test_ref": write_lines(tmp_path / "test.ref", [t for _, t in test])}
