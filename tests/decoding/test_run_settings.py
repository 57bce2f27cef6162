"""A run's saved search settings (OUTPUT_DIR/decode.json): saved, read back, refused when
damaged or holding more than the search's settings."""
import pytest

from t2t_lite.decoding import decoder, run_settings
from t2t_lite.errors import UserError


def test_saved_search_settings_read_back(tmp_path):
  assert run_settings.read(str(tmp_path)) == {}  # none saved
  dhp = decoder.DecodeHParams.from_string("beam_size=3,alpha=1.1,batch_size=8", "--x")
  path = run_settings.save(str(tmp_path), dhp)
  assert path == str(tmp_path / "decode.json")
  # Only the search's own settings, not batching.
  assert run_settings.read(str(tmp_path)) == {"beam_size": 3, "alpha": 1.1,
                                              "length_penalty": "gnmt", "extra_length": 50}


def test_a_damaged_or_foreign_decode_json_is_one_line(tmp_path):
  (tmp_path / "decode.json").write_text("{not json")
  with pytest.raises(UserError, match="decode.json is not valid JSON .*--save_decode_hparams"):
    run_settings.read(str(tmp_path))
  (tmp_path / "decode.json").write_text('{"beam_size": 2, "batch_size": 8}')
  with pytest.raises(UserError, match="may hold only beam_size, alpha, length_penalty, "
                                      "extra_length; found"):
    run_settings.read(str(tmp_path))
