import pytest

from tests.bin.helpers import run

PROBLEM = "algorithmic_reverse_decimal40"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  """The reverse problem's data, generated once by t2t-datagen for all binary tests."""
  d = str(tmp_path_factory.mktemp("reverse_data"))
  proc = run("t2t-datagen", f"--problem={PROBLEM}", f"--data_dir={d}")
  assert "wrote 100000 train examples" in proc.stdout
  return d
