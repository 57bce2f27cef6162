"""WAV bytes sent to t2t-serve: 16-bit PCM at 16 kHz read as mono samples; anything else is
one BadInput naming what is wrong."""
import io
import wave

import numpy as np
import pytest

from t2t_lite.serving import wav_input
from t2t_lite.serving.engine import BadInput


def _wav(frames, channels=1, width=2, rate=16000):
  out = io.BytesIO()
  with wave.open(out, "wb") as f:
    f.setnchannels(channels)
    f.setsampwidth(width)
    f.setframerate(rate)
    f.writeframes(frames)
  return out.getvalue()


def test_mono_and_stereo_samples():
  mono = np.array([0, 100, -200, 32767], dtype="<i2")
  assert wav_input.samples(_wav(mono.tobytes())).tolist() == [0, 100, -200, 32767]
  stereo = np.array([10, 20, -5, -7], dtype="<i2")  # two frames of (left, right)
  got = wav_input.samples(_wav(stereo.tobytes(), channels=2))
  assert got.dtype == np.int16 and got.tolist() == [15, -6]


@pytest.mark.parametrize("data, message", [
    (b"not a wav", "audio is not a readable WAV file"),
    (_wav(b"\x00" * 4, width=1), "audio has 8-bit samples"),
    (_wav(b"\x00\x00" * 4, rate=8000), "sampled at 8000 Hz, not 16000 Hz"),
    (_wav(b""), "audio holds no samples"),
])
def test_what_is_not_16_bit_pcm_at_16_khz_is_bad_input(data, message):
  with pytest.raises(BadInput, match=message):
    wav_input.samples(data)
