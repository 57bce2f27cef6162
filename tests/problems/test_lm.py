"""languagemodel_from_files: every non-empty line is an example, with a deterministic dev
split when no dev files are given."""
import pytest

from t2t_lite import registry
from t2t_lite.errors import UserError


def test_lines_become_examples_with_a_held_out_fraction(tmp_path):
  corpus = tmp_path / "text.txt"
  corpus.write_text("".join(f"line number {i}\n" for i in range(200)) + "\n\n")
  problem = registry.problem("languagemodel_from_files")
  problem.configure(f"train_files={corpus},vocab_type=byte,dev_fraction=0.1")
  train = list(problem.generate_samples(str(tmp_path), None, "train"))
  dev = list(problem.generate_samples(str(tmp_path), None, "dev"))
  assert len(train) + len(dev) == 200 and 5 <= len(dev) <= 40
  assert not {s["targets"] for s in train} & {s["targets"] for s in dev}
  assert dev == list(problem.generate_samples(str(tmp_path), None, "dev"))  # deterministic


def test_text_is_required():
  problem = registry.problem("languagemodel_from_files")
  problem.configure("vocab_type=byte")
  with pytest.raises(UserError, match="needs its text: --problem_settings=train_files"):
    list(problem.generate_samples("", None, "train"))
