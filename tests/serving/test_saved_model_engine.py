"""The SavedModel engine of t2t-serve on SavedModels with t2t-exporter's signatures:
text and speech, what it counts as an item's length, and the exports it refuses."""
import io
import wave

import numpy as np
import pytest
import tensorflow as tf

from t2t_lite.errors import UserError
from t2t_lite.serving import wav_input
from t2t_lite.serving.engine import BadInput, Hypothesis, Result
from t2t_lite.serving.saved_model_engine import FRAME_SAMPLES, SavedModelEngine
from tests.serving import tiny_saved_model


def _wav(samples):
  out = io.BytesIO()
  with wave.open(out, "wb") as f:
    f.setnchannels(1)
    f.setsampwidth(2)
    f.setframerate(16000)
    f.writeframes(np.asarray(samples, "<i2").tobytes())
  return out.getvalue()


def test_text(tmp_path):
  engine = SavedModelEngine(tiny_saved_model.text(tmp_path / "text"))
  assert (engine.kind, engine.has_scores, engine.length_unit) == ("text", True, "tokens")
  assert engine.prepare("a green garden") == ("a green garden", 4)  # words + EOS
  assert engine.decode(["a b", "xyz"]) == [Result(Hypothesis("A B", -3.0), output_tokens=2),
                                           Result(Hypothesis("XYZ", -3.0), output_tokens=1)]
  assert engine.warmup_item() == "warm up"


def test_speech(tmp_path):
  engine = SavedModelEngine(tiny_saved_model.speech(tmp_path / "speech"))
  assert (engine.kind, engine.has_scores, engine.length_unit) == ("speech", False, "frames")
  samples, frames = engine.prepare(_wav([100] * 161))
  assert frames == 2 and samples.tolist() == [100] * 161 and FRAME_SAMPLES == 160
  short, _ = engine.prepare(_wav([16384, 0]))
  # Padded into one batch, scaled to [-1, 1]; each item keeps its length.
  assert [r.best.text for r in engine.decode([samples, short])] == [
      "161 samples, peak 100", "2 samples, peak 16384"]
  assert wav_input.samples(engine.warmup_item()).tolist() == [0] * 8000
  with pytest.raises(BadInput, match="not a readable WAV file"):
    engine.prepare(b"text")


def test_what_is_not_a_t2t_export_is_one_line(tmp_path):
  with pytest.raises(UserError, match=r"--export_dir=.*nowhere is not a loadable SavedModel"):
    SavedModelEngine(str(tmp_path / "nowhere"))

  class Other(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def f(self, x):
      return {"y": x}
  module = Other()
  tf.saved_model.save(module, str(tmp_path / "other"), signatures={"serving_default": module.f})
  with pytest.raises(UserError, match="a SavedModel without t2t-exporter's text"):
    SavedModelEngine(str(tmp_path / "other"))
