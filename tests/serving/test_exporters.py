"""The exporter of a run is chosen by what its problem emits; what an exporter cannot make
is one line naming the problem."""
import types

import pytest

from t2t_lite.errors import UserError
from t2t_lite.serving import exporters, small_export


def _decoder(emits, name="Decoding", **dhp):
  decoder_cls = type(name, (), {})
  decoder = decoder_cls()
  decoder.problem = types.SimpleNamespace(name="p", emits=emits)
  decoder.model, decoder.hparams = object(), types.SimpleNamespace()
  decoder.dhp = types.SimpleNamespace(lm_path=None, word_timestamps=False, **dhp)
  return decoder


def test_the_exporter_of_what_the_problem_emits():
  text = exporters.exporter_for(_decoder("text"))
  speech = exporters.exporter_for(_decoder("ctc_frames"))
  assert type(text) is exporters.TextExporter and type(speech) is exporters.SpeechExporter
  decoder = _decoder("text")
  exporter = exporters.exporter_for(decoder)
  assert (exporter.decoder, exporter.problem, exporter.model, exporter.hparams,
          exporter.dhp) == (decoder, decoder.problem, decoder.model, decoder.hparams,
                            decoder.dhp)


def test_what_an_exporter_cannot_make_is_one_line():
  with pytest.raises(UserError, match=r"^--tflite: problem 'p' has no TFLite export$"):
    exporters.exporter_for(_decoder("text")).tflite_model()
  with pytest.raises(UserError, match=r"^problem 'p' \(SpeechDecoding\) has no CTranslate2 "
                                      "export; use --export_format=savedmodel$"):
    exporters.exporter_for(_decoder("ctc_frames", "SpeechDecoding")).export_ctranslate2("e")
  speech = exporters.exporter_for(_decoder("ctc_frames"))
  assert "bfloat16" not in small_export.TFLITE_DTYPES
  with pytest.raises(UserError, match="TFLite stores float32, float16 or int8 weights, not "
                                      "bfloat16"):
    speech.tflite_model("bfloat16")
  speech.dhp.lm_path = "lm.arpa"
  with pytest.raises(UserError, match="--decode_hparams lm_path: an exported model searches "
                                      "in its graph"):
    speech.serving_module()
