import wave

import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.data import audio
from t2t_lite.errors import UserError


def _wav(path, samples, rate=16000, width=2, channels=1):
  with wave.open(str(path), "wb") as f:
    f.setnchannels(channels)
    f.setsampwidth(width)
    f.setframerate(rate)
    f.writeframes(np.asarray(samples).tobytes())
  return str(path)


def test_read_wav_round_trip_and_stereo_to_mono(tmp_path):
  x = (np.arange(1000) % 200 - 100).astype(np.int16)
  assert np.array_equal(audio.read_wav(_wav(tmp_path / "a.wav", x)), x)
  stereo = np.stack([x, x + 2], axis=1).astype(np.int16)
  mono = audio.read_wav(_wav(tmp_path / "s.wav", stereo, channels=2))
  assert np.array_equal(mono, x + 1)


@pytest.mark.parametrize("make,expected", [
    (lambda p: str(p / "missing.wav"), "does not exist"),
    (lambda p: (p / "text.wav").write_text("not audio") and str(p / "text.wav"),
     "not a readable WAV file"),
    (lambda p: _wav(p / "8bit.wav", np.zeros(100, np.uint8), width=1), "8-bit samples"),
    (lambda p: _wav(p / "44k.wav", np.zeros(100, np.int16), rate=44100), "44100 Hz"),
    (lambda p: _wav(p / "empty.wav", np.zeros(0, np.int16)), "holds no samples"),
])
def test_bad_audio_is_one_line_naming_the_file(tmp_path, make, expected):
  path = make(tmp_path)
  with pytest.raises(UserError) as e:
    audio.read_wav(path)
  message = str(e.value)
  assert expected in message and path in message and "\n" not in message


def test_log_mel_frames_and_bins():
  x = tf.constant(np.random.default_rng(0).integers(-3000, 3000, 16000), tf.int16)
  feats = audio.log_mel(x)
  assert feats.shape == (1 + (16000 - 400) // 160, 80)
  assert int(audio.num_frames(16000, 400, 160)) == feats.shape[0]
  # Shorter than one window: one frame, not none.
  assert audio.log_mel(x[:100]).shape == (1, 80)


def test_a_tone_lights_up_the_mel_bin_of_its_frequency():
  t = np.arange(16000) / 16000
  low = audio.log_mel(tf.constant(np.sin(2 * np.pi * 300 * t), tf.float32))
  high = audio.log_mel(tf.constant(np.sin(2 * np.pi * 3000 * t), tf.float32))
  assert int(tf.argmax(low[50])) < int(tf.argmax(high[50]))


def test_deltas_of_a_ramp_are_its_slope():
  ramp = tf.constant(np.arange(20, dtype=np.float32)[:, None] * [1.0, 3.0])
  d = audio.deltas(ramp).numpy()
  np.testing.assert_allclose(d[2:-2], np.tile([1.0, 3.0], (16, 1)), atol=1e-5)


def test_normalize_gives_zero_mean_unit_variance():
  x = tf.constant(np.random.default_rng(1).normal(5.0, 3.0, (200, 4)), tf.float32)
  y = audio.normalize(x).numpy()
  np.testing.assert_allclose(y.mean(0), 0, atol=1e-4)
  np.testing.assert_allclose(y.std(0), 1, atol=1e-3)


def test_spec_augment_masks_bands_and_spans_in_every_delta_block():
  tf.random.set_seed(0)
  x = tf.ones([300, 3 * 40])
  y = audio.spec_augment(x, freq_masks=1, freq_mask_width=10, time_masks=1,
                         time_mask_width=30, blocks=3).numpy()
  zero_columns = np.where((y == 0).all(axis=0))[0]
  blocks = [set(c % 40 for c in zero_columns if c // 40 == b) for b in range(3)]
  assert blocks[0] == blocks[1] == blocks[2]
  assert len(blocks[0]) <= 10
  zero_rows = np.where((y == 0).all(axis=1))[0]
  assert len(zero_rows) <= 30
  assert (y == 0).mean() > 0  # something was masked (seeded)


def test_features_follow_hparams_and_augment_only_in_training():
  hp = registry.hparams("deep_speech2_base")
  hp.audio_add_deltas = True
  hp.audio_spec_augment = True
  x = tf.constant(np.random.default_rng(2).integers(-3000, 3000, 8000), tf.int16)
  assert audio.feature_depth(hp) == 240
  eval_feats = audio.features_from_waveform(x, hp, training=False)
  assert eval_feats.shape == (48, 240)
  np.testing.assert_allclose(eval_feats, audio.features_from_waveform(x, hp), atol=1e-6)
  tf.random.set_seed(3)
  train_feats = audio.features_from_waveform(x, hp, training=True).numpy()
  assert (train_feats == 0).sum() > (eval_feats.numpy() == 0).sum()


def test_change_speed_scales_length_and_pitch():
  rate = audio.SAMPLE_RATE
  t = np.arange(rate) / rate
  tone = (0.5 * np.sin(2 * np.pi * 440.0 * t) * 32767).astype(np.int16)
  for factor in (0.9, 1.1):
    out = audio.change_speed(tf.constant(tone), factor).numpy()
    assert len(out) == round(rate / factor)
    peak = np.argmax(np.abs(np.fft.rfft(out))) * rate / len(out)
    assert abs(peak - 440.0 * factor) <= 2.0
    assert abs(np.sqrt(np.mean(out ** 2)) - 0.5 / np.sqrt(2)) < 0.01  # loudness kept
  same = audio.speed_perturbed(tf.constant(tone), [1.0], tf.constant(7, tf.int64)).numpy()
  np.testing.assert_array_equal(same, tone / 32768.0)


def test_speed_perturbation_needs_sensible_factors():
  audio.check_speed_perturbation([0.9, 1, 1.1])
  for bad in ([0.0, 1.0], [3.0], ["fast"]):
    with pytest.raises(UserError, match=r"audio_speed_perturbation=.* must list speeds"):
      audio.check_speed_perturbation(bad)
