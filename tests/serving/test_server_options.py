"""t2t-serve's settings: declared bounds, and the checks between them."""
import pytest

from t2t_lite.errors import UserError
from t2t_lite.serving.server_options import ENGINES, ServeOptions


def test_defaults_and_declared_bounds():
  settings = ServeOptions(export_dir="e")
  settings.check()
  assert (settings.engine, settings.port, settings.max_batch_size) == ("saved_model", 8080, 16)
  assert ENGINES == ("saved_model", "ctranslate2")
  with pytest.raises(UserError, match=r"--port=70000 must be <= 65535"):
    ServeOptions(port=70000)
  with pytest.raises(UserError, match=r"--engine='onnx' must be one of"):
    ServeOptions(engine="onnx")


@pytest.mark.parametrize("changes, message", [
    ({"export_dir": None}, "missing --export_dir"),
    ({"max_batch_tokens": 100, "max_input_tokens": 256}, "--max_batch_tokens=100 is below "
                                                         "--max_input_tokens=256"),
    ({"max_request_sentences": 300, "max_queue": 256}, "--max_request_sentences=300 "
                                                       "exceeds --max_queue=256"),
])
def test_settings_that_cannot_work_together_are_refused(changes, message):
  with pytest.raises(UserError, match=message):
    ServeOptions(**{"export_dir": "e", **changes}).check()
  ServeOptions(export_dir="e", max_batch_tokens=256).check()  # equal: allowed
