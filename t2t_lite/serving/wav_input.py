"""Audio sent to t2t-serve: a 16-bit PCM WAV file's bytes, read as t2t-decoder reads a WAV
file (data/audio.read_wav: channels averaged to mono), with one clear message for
anything else."""
import io
import wave

import numpy as np

from t2t_lite.data.audio import SAMPLE_RATE
from t2t_lite.serving.engine import BadInput


def samples(data: bytes):
  """The WAV bytes' samples as int16 (mono); BadInput names what is wrong."""
  try:
    with wave.open(io.BytesIO(data), "rb") as f:
      channels, width, rate = f.getnchannels(), f.getsampwidth(), f.getframerate()
      frames = f.readframes(f.getnframes())
  except (wave.Error, EOFError) as e:
    why = f" ({e})" if str(e) else ""
    raise BadInput(f"audio is not a readable WAV file{why}; send 16-bit PCM WAV at "
                   f"{SAMPLE_RATE} Hz") from None
  if width != 2:
    raise BadInput(f"audio has {8 * width}-bit samples; send 16-bit PCM WAV")
  if rate != SAMPLE_RATE:
    raise BadInput(f"audio is sampled at {rate} Hz, not {SAMPLE_RATE} Hz; resample it, "
                   f"e.g. sox IN -r {SAMPLE_RATE} OUT.wav")
  values = np.frombuffer(frames, dtype="<i2")
  if len(values) % channels:
    raise BadInput("audio is truncated (incomplete last sample frame)")
  if channels > 1:
    values = values.reshape(-1, channels).mean(axis=1).round().astype(np.int16)
  if values.size == 0:
    raise BadInput("audio holds no samples")
  return values
