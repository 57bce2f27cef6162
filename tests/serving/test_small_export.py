"""Reduced-precision SavedModels and TFLite models of a DeepSpeech2 sized like a deployed
one (4 bytes a weight dominate the float32 file): int8 files at most 30% of float32's,
outputs close to float32's. (The end-to-end CER of each export: test_speech_deployment.)"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.serving import export, small_export
from t2t_lite.t2t_model import Search


@pytest.fixture(scope="module")
def model():
  hp = registry.hparams("deep_speech2_tiny").override_from_dict(
      {"rnn_hidden_size": 256, "conv_filters": [16]})
  hp.target_vocab_size = 30
  keras.utils.set_random_seed(2)
  m = registry.model("deep_speech2")(hp)
  m.build_from_features(m.dummy_features())
  return m


def _features():
  rng = np.random.default_rng(0)
  return [tf.constant(rng.standard_normal((2, 60, 40)), tf.float32), tf.constant([60, 41])]


@pytest.mark.parametrize("dtype,tolerance", [("float16", 0.05), ("bfloat16", 0.3),
                                             ("int8", 0.3)])
def test_savedmodel_weights_shrink_and_outputs_stay_close(model, tmp_path, dtype, tolerance):
  def exported(weights_dtype):
    serving = export.PredictServing(model, model.hparams, Search(beam_size=1))
    path = str(tmp_path / weights_dtype)
    export.export(small_export.ReducedPrecisionServing(serving, model, weights_dtype), path)
    return tf.saved_model.load(path), small_export.stored_bytes(path)[0]
  full, full_bytes = exported("float32")
  small, small_bytes = exported(dtype)
  params = sum(v.shape.num_elements() for v in model.variables)
  assert full_bytes < 4.2 * params  # every weight once, 4 bytes each
  assert small_bytes <= {"int8": 0.3, "float16": 0.52, "bfloat16": 0.52}[dtype] * full_bytes
  # The same signature; the scores (best-path log-probabilities) stay close.
  a = full.signatures["predict"](inputs=_features()[0], inputs_length=_features()[1])
  b = small.signatures["predict"](inputs=_features()[0], inputs_length=_features()[1])
  np.testing.assert_allclose(b["scores"].numpy(), a["scores"].numpy(),
                             rtol=tolerance, atol=tolerance)


def test_tflite_int8_is_at_most_30_percent_of_float32_and_transcribes_alike(model):
  problem = registry.problem("speech_manifest")
  sizes, ids = {}, {}
  wave = np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440).astype(np.float32) * 0.5
  for dtype in ("float32", "int8"):
    flat = small_export.tflite_transcriber(model, problem, model.hparams, dtype)
    sizes[dtype] = len(flat)
    ids[dtype] = small_export.tflite_transcribe(tf.lite.Interpreter(model_content=flat), wave)
  assert sizes["int8"] <= 0.3 * sizes["float32"], sizes
  # What the model itself decodes greedily from the same features.
  features = problem.preprocess_example(
      {"waveform": tf.constant(np.round(wave * 32768).astype(np.int16)),
       "targets": tf.zeros([0], tf.int32)}, False, model.hparams)["inputs"]
  expected = model.predict({"inputs": features[None],
                            "inputs_length": tf.shape(features)[:1]}, Search(beam_size=1))[0]
  assert ids["float32"] == [i for i in expected.numpy()[0].tolist() if i]
