"""Audio: reading and checking WAV files (datagen, decoding), and the TensorFlow front end
that turns a 16 kHz waveform into normalized log-mel filterbank features (input pipeline).

The front end is plain tf ops so it runs inside the tf.data map: log-mel filterbanks
(80 bins, 25 ms window, 10 ms step by default), optional deltas and delta-deltas,
mean/variance normalization, and SpecAugment time/frequency masks for training only.
Speed perturbation (training only) resamples the waveform before all of it.

Normalization is per utterance (each utterance's own statistics: the offline default) or
global (the training set's statistics, measured once from the data and kept in the run's
hparams). Only global normalization streams: a stream knows its statistics from the first
frame, so `stream_log_mel` + `normalize_globally` on chunks equals the whole utterance's
features frame for frame.
"""
import wave

import numpy as np
import tensorflow as tf

from t2t_lite import options
from t2t_lite.errors import UserError
from t2t_lite.options import HParamsGroup, setting

SAMPLE_RATE = 16000

@options.hparams_group("audio")
class AudioHParams(HParamsGroup):
  """The hparams of the front end (features_from_waveform), read by speech problems and by
  models of audio features."""
  audio_num_mel_bins: int = setting(80, "log-mel filterbank bins", minimum=1)
  audio_frame_length_ms: float = setting(25.0, "analysis window", above=0)
  audio_frame_step_ms: float = setting(10.0, "hop between frames", above=0)
  audio_add_deltas: bool = setting(False, "append deltas and delta-deltas (x3 features)")
  audio_spec_augment: bool = setting(False, "SpecAugment masks, in training only")
  audio_freq_masks: int = setting(2, "SpecAugment: frequency masks", minimum=0)
  audio_freq_mask_width: int = setting(27, "SpecAugment: widest frequency mask", minimum=0)
  audio_time_masks: int = setting(2, "SpecAugment: time masks", minimum=0)
  audio_time_mask_width: int = setting(40, "SpecAugment: widest time mask", minimum=0)
  audio_speed_perturbation: list = setting(
      [], "training only: each utterance plays at one of these speeds (e.g. [0.9,1.0,1.1]), "
      "its waveform resampled before the features; empty: off")
  audio_normalization: str = setting(
      "utterance", "mean/variance normalization with each utterance's own statistics, or "
      "the training set's (global: a stream knows them from its first frame)",
      choices=("utterance", "global"))
  audio_global_mean: list = setting([], "global normalization: each feature's mean (empty: "
                                    "measured on the training data)")
  audio_global_std: list = setting([], "global normalization: each feature's standard "
                                   "deviation (empty: measured with the mean)")


# Global statistics are measured on this many training utterances (read round-robin from
# every shard, so no single speaker or file dominates).
GLOBAL_STATS_UTTERANCES = 1000


def read_wav(path, sample_rate=SAMPLE_RATE):
  """A 16-bit PCM WAV file as an int16 numpy array (channels averaged to mono).

  Anything else (missing file, not a WAV, another sample width or rate) is a UserError
  naming the file."""
  try:
    with wave.open(path, "rb") as f:
      channels, width, rate = f.getnchannels(), f.getsampwidth(), f.getframerate()
      frames = f.readframes(f.getnframes())
  except FileNotFoundError:
    raise UserError(f"audio file {path} does not exist") from None
  except IsADirectoryError:
    raise UserError(f"audio file {path} is a directory, not a WAV file") from None
  except PermissionError:
    raise UserError(f"audio file {path} cannot be read (permission denied)") from None
  except (wave.Error, EOFError) as e:
    raise UserError(f"audio file {path} is not a readable WAV file ({e}); convert it to "
                    "16-bit PCM WAV, e.g. sox IN -b 16 -r 16000 OUT.wav") from None
  if width != 2:
    raise UserError(f"audio file {path} has {8 * width}-bit samples; only 16-bit PCM is "
                    "read: convert it, e.g. sox IN -b 16 OUT.wav")
  if rate != sample_rate:
    raise UserError(f"audio file {path} is sampled at {rate} Hz, not {sample_rate} Hz; "
                    f"resample it, e.g. sox IN -r {sample_rate} OUT.wav")
  samples = np.frombuffer(frames, dtype="<i2")
  if len(samples) % channels:
    raise UserError(f"audio file {path} is truncated (incomplete last sample frame)")
  if channels > 1:
    samples = samples.reshape(-1, channels).mean(axis=1).round().astype(np.int16)
  if samples.size == 0:
    raise UserError(f"audio file {path} holds no samples")
  return samples


def write_wav(path, samples, sample_rate=SAMPLE_RATE):
  """Writes int16 (or float in [-1, 1]) mono samples as a 16-bit PCM WAV file."""
  samples = np.asarray(samples)
  if samples.dtype != np.int16:
    samples = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
  with wave.open(path, "wb") as f:
    f.setnchannels(1)
    f.setsampwidth(2)
    f.setframerate(sample_rate)
    f.writeframes(samples.astype("<i2").tobytes())


# -- features, in TensorFlow ----------------------------------------------------------------
def num_frames(num_samples, frame_length, frame_step):
  """Frames the front end makes of num_samples (short inputs are padded to one frame)."""
  return 1 + tf.maximum(num_samples - frame_length, 0) // frame_step


def log_mel(waveform, sample_rate=SAMPLE_RATE, num_mel_bins=80, frame_length_ms=25.0,
            frame_step_ms=10.0, lower_hz=20.0, upper_hz=7600.0):
  """int16 or float waveform [n] -> log-mel filterbank energies [frames, num_mel_bins]."""
  frame_length = int(round(sample_rate * frame_length_ms / 1000))
  frame_step = int(round(sample_rate * frame_step_ms / 1000))
  x = tf.cast(waveform, tf.float32)
  if waveform.dtype == tf.int16:
    x /= 32768.0
  x = tf.pad(x, [[0, tf.maximum(frame_length - tf.shape(x)[0], 0)]])
  fft_length = 1 << (frame_length - 1).bit_length()
  stft = tf.signal.stft(x, frame_length, frame_step, fft_length, window_fn=tf.signal.hann_window)
  power = tf.square(tf.abs(stft))
  mel = tf.signal.linear_to_mel_weight_matrix(num_mel_bins, fft_length // 2 + 1, sample_rate,
                                              lower_hz, upper_hz)
  return tf.math.log(tf.matmul(power, mel) + 1e-6)


def deltas(features, window=2):
  """The standard regression deltas over time (HTK/Kaldi): sum_n n (c[t+n] - c[t-n]) /
  (2 sum_n n^2), with the first and last frames repeated at the edges."""
  length = tf.shape(features)[0]
  padded = tf.concat([tf.repeat(features[:1], window, axis=0), features,
                      tf.repeat(features[-1:], window, axis=0)], axis=0)
  out = tf.zeros_like(features)
  for n in range(1, window + 1):
    out += n * (padded[window + n:window + n + length] - padded[window - n:window - n + length])
  return out / (2.0 * sum(n * n for n in range(1, window + 1)))


def normalize(features, epsilon=1e-5):
  """Per-utterance mean/variance normalization of each feature over time."""
  mean, variance = tf.nn.moments(features, axes=[0], keepdims=True)
  return (features - mean) * tf.math.rsqrt(variance + epsilon)


def spec_augment(features, freq_masks=2, freq_mask_width=15, time_masks=2,
                 time_mask_width=40, max_time_fraction=0.2, blocks=1, seed=None,
                 stateless_seed=None):
  """SpecAugment (Park et al., 2019) without time warping: `freq_masks` bands of up to
  `freq_mask_width` bins and `time_masks` spans of up to `time_mask_width` frames (and at
  most max_time_fraction of the utterance) are set to zero, the normalized mean.
  With deltas, features hold `blocks` copies of the bins; a band masks all of them.
  With `stateless_seed` (int64 [2], e.g. from the example's seed) the masks are a function
  of it alone: the same on every run and after a resume."""
  frames, bins = tf.shape(features)[0], tf.shape(features)[1] // blocks
  draws = []

  def uniform(maxval):
    if stateless_seed is None:
      return tf.random.uniform([], 0, maxval, tf.int32, seed=seed)
    draws.append(None)  # each draw its own seed: the example's, offset by the draw's index
    return tf.random.stateless_uniform(
        [], stateless_seed + tf.constant([0, len(draws)], tf.int64), 0, maxval, tf.int32)

  def mask(x, axis, size, max_width, count):
    positions = tf.range(size)
    for _ in range(count):
      width = uniform(max_width + 1)
      start = uniform(tf.maximum(size - width, 0) + 1)
      inside = (positions >= start) & (positions < start + width)
      keep = tf.cast(~inside, x.dtype)
      x *= keep[:, None] if axis == 0 else tf.tile(keep, [blocks])[None, :]
    return x

  features = mask(features, 1, bins, tf.minimum(freq_mask_width, bins), freq_masks)
  max_time = tf.minimum(time_mask_width,
                        tf.cast(tf.cast(frames, tf.float32) * max_time_fraction, tf.int32))
  return mask(features, 0, frames, max_time, time_masks)


def check_speed_perturbation(factors):
  """Raises UserError unless factors are positive numbers."""
  if not all(isinstance(f, (int, float)) and not isinstance(f, bool) and 0.5 <= f <= 2.0
             for f in factors):
    raise UserError(f"hparam audio_speed_perturbation={list(factors)} must list speeds "
                    "between 0.5 and 2.0, e.g. [0.9,1.0,1.1] (empty: off)")


def change_speed(waveform, factor):
  """A waveform [n] played `factor` times as fast (tempo and pitch, as sox's `speed` and
  Kaldi's speed perturbation): resampled to round(n / factor) samples in the frequency
  domain, which low-passes exactly at the new Nyquist frequency when speeding up (no
  aliasing) and interpolates band-limited when slowing down. Returns float32 samples in
  the int16 scale / 32768."""
  x = tf.cast(waveform, tf.float32)
  if waveform.dtype == tf.int16:
    x /= 32768.0
  n = tf.shape(x)[0]
  m = tf.maximum(tf.cast(tf.round(tf.cast(n, tf.float32) / factor), tf.int32), 1)
  spectrum = tf.signal.rfft(x)
  bins = m // 2 + 1
  kept = spectrum[:tf.minimum(bins, tf.shape(spectrum)[0])]
  kept = tf.pad(kept, [[0, bins - tf.shape(kept)[0]]])
  return tf.signal.irfft(kept, [m]) * (tf.cast(m, tf.float32) / tf.cast(n, tf.float32))


def speed_perturbed(waveform, factors, example_seed):
  """The waveform at the speed factors[example_seed % len(factors)] (unchanged at 1)."""
  index = tf.cast(example_seed % len(factors), tf.int32)
  factor = tf.gather(tf.constant(factors, tf.float32), index)
  x = tf.cast(waveform, tf.float32) / (32768.0 if waveform.dtype == tf.int16 else 1.0)
  return tf.cond(tf.equal(factor, 1.0), lambda: x, lambda: change_speed(x, factor))


def unnormalized_features(waveform, hparams):
  """Log-mel filterbanks (with deltas when configured) of a waveform [n], before
  normalization."""
  x = log_mel(waveform, num_mel_bins=hparams.audio_num_mel_bins,
              frame_length_ms=hparams.audio_frame_length_ms,
              frame_step_ms=hparams.audio_frame_step_ms)
  if hparams.audio_add_deltas:
    d = deltas(x)
    x = tf.concat([x, d, deltas(d)], axis=-1)
  return x


def normalize_globally(features, hparams):
  """(features - the global mean) / the global standard deviation, per feature."""
  mean, std = hparams.audio_global_mean, hparams.audio_global_std
  depth = feature_depth(hparams)
  if len(mean) != depth or len(std) != depth:
    raise UserError(f"audio_normalization=global needs audio_global_mean and "
                    f"audio_global_std of {depth} values each (they have {len(mean)} and "
                    f"{len(std)}); leave both empty to measure them on the training data")
  return (features - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def global_statistics(waveforms, hparams):
  """(mean, standard deviation) of every unnormalized feature over the frames of
  `waveforms` (int16 arrays), as lists rounded to 5 decimals (hparams.json keeps them, and
  measuring the same data again gives the same hparams)."""
  total = squares = frames = 0
  for waveform in waveforms:
    x = unnormalized_features(tf.constant(waveform, tf.int16), hparams).numpy()
    x = x.astype(np.float64)
    total, squares, frames = total + x.sum(0), squares + (x * x).sum(0), frames + len(x)
  if not frames:
    raise UserError("no training audio to measure the global feature statistics on")
  mean = total / frames
  std = np.sqrt(np.maximum(squares / frames - mean * mean, 0.0)) + 1e-5
  return [round(float(v), 5) for v in mean], [round(float(v), 5) for v in std]


def stream_log_mel(pending, samples, final, frames_before, hparams):
  """The log-mel frames (deltas are not streamable) that `samples` [n] complete, given
  the samples `pending` [m] since the next frame's start, and the new pending samples.
  Frames are cut as `log_mel` cuts the whole waveform; an utterance shorter than one
  window (no frame before, `final`) gets its one zero-padded frame, as there."""
  frame_length = int(round(SAMPLE_RATE * hparams.audio_frame_length_ms / 1000))
  frame_step = int(round(SAMPLE_RATE * hparams.audio_frame_step_ms / 1000))
  x = tf.concat([pending, samples], axis=0)
  available = tf.shape(x)[0]
  count = tf.where(available >= frame_length, (available - frame_length) // frame_step + 1, 0)
  count = tf.where(final & (frames_before + count == 0), 1, count)
  frames = log_mel(x, num_mel_bins=hparams.audio_num_mel_bins,
                   frame_length_ms=hparams.audio_frame_length_ms,
                   frame_step_ms=hparams.audio_frame_step_ms)[:count]
  return frames, x[tf.minimum(count * frame_step, available):]


def features_from_waveform(waveform, hparams, training=False, example_seed=None):
  """The model's input features [frames, bins * (3 with deltas)] from a waveform [n],
  configured by the audio_* hparams. In training, an `example_seed` (int64) makes the
  SpecAugment masks a function of it (deterministic and resumable)."""
  x = unnormalized_features(waveform, hparams)
  if hparams.audio_normalization == "global":
    x = normalize_globally(x, hparams)
  else:
    x = normalize(x)
  if training and hparams.audio_spec_augment:
    x = spec_augment(x, hparams.audio_freq_masks, hparams.audio_freq_mask_width,
                     hparams.audio_time_masks, hparams.audio_time_mask_width,
                     blocks=3 if hparams.audio_add_deltas else 1,
                     stateless_seed=None if example_seed is None else tf.stack(
                         [tf.cast(example_seed, tf.int64), tf.constant(1, tf.int64)]))
  return x


def feature_depth(hparams):
  return hparams.audio_num_mel_bins * (3 if hparams.audio_add_deltas else 1)
