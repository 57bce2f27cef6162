"""Examples of a TFDS dataset through TFDS's own builder (mock data: no download)."""
import pytest
import tensorflow_datasets as tfds

from t2t_lite.data import tfds_source
from t2t_lite.errors import UserError


def test_examples_of_a_split_at_most_max_examples(tmp_path):
  with tfds.testing.mock_data(num_examples=5):
    rows = list(tfds_source.examples("lm1b", "train", str(tmp_path), max_examples=3))
  assert len(rows) == 3 and all(isinstance(r["text"], bytes) for r in rows)
  assert isinstance(tfds_source.text(rows[0]["text"]), str)
  assert tfds_source.text("café".encode()) == "café" and tfds_source.text(7) == "7"


def test_an_unknown_dataset_is_one_line():
  with pytest.raises(UserError, match="TFDS dataset 'no_such_dataset_here' is not available"):
    list(tfds_source.examples("no_such_dataset_here", "train", download=False))


def test_the_settings_a_tfds_problem_adds():
  settings = tfds_source.TFDSSettings()
  assert (settings.tfds_data_dir, settings.tfds_download, settings.max_examples) == (
      "", True, 0)
  with pytest.raises(UserError, match="max_examples=-1 must be >= 0"):
    tfds_source.TFDSSettings(max_examples=-1)
