"""Speech's --decode_hparams: the search's settings plus its word language model."""
import json

import pytest

from t2t_lite import registry
from t2t_lite.decoding import audio_decoder
from t2t_lite.decoding.audio_decoder import AudioDecodeHParams
from t2t_lite.errors import UserError


def test_speech_decode_hparams_add_the_language_models():
  dhp = AudioDecodeHParams.from_string("beam_size=8,lm_path=lm.arpa,lm_weight=0.7",
                                       "--decode_hparams")
  assert (dhp.beam_size, dhp.lm_path, dhp.lm_weight, dhp.word_bonus) == (8, "lm.arpa", 0.7,
                                                                        1.0)
  assert dhp.uses_lm()
  assert not dhp.replace(lm_weight=0.0, word_bonus=0.0).uses_lm()  # it changes no score
  assert not AudioDecodeHParams().uses_lm()  # no model
  with pytest.raises(UserError, match="--decode_hparams: lm_weight=-1.0 must be >= 0"):
    AudioDecodeHParams.from_string("lm_weight=-1", "--decode_hparams")


def test_the_decoder_of_ctc_frames_and_its_word_times_as_json_lines():
  assert registry.decoders.get("ctc_frames") is audio_decoder.AudioDecoder
  timed = [{"word": "héllo", "start": 0.1, "end": 0.4}, {"word": "x", "start": 0.5, "end": 0.6}]
  text = audio_decoder._json_lines(timed)
  assert text.endswith("\n") and "héllo" in text  # UTF-8 as it is, one object a line
  assert [json.loads(line) for line in text.splitlines()] == timed
