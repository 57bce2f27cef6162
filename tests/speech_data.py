"""A small speech-like corpus synthesized for the speech tests.

Each character is a tone of its own frequency (60-90 ms, a short silence after it), so a
transcript is a sequence of tones; each utterance has its own "speaker": a pitch shift of
up to 4%, a second harmonic, a loudness, and background noise. Written as 16 kHz 16-bit
WAV files with train.tsv / dev.tsv manifests (paths relative to the manifests).
"""
import os

import numpy as np

from t2t_lite.data import audio

LETTERS = "abcdefgh"
SYMBOLS = LETTERS + " "
# Log-spaced from 300 Hz to 3.4 kHz: neighbouring tones are ~25% apart, far beyond jitter.
FREQUENCIES = dict(zip(SYMBOLS, np.geomspace(300.0, 3400.0, len(SYMBOLS))))
RATE = audio.SAMPLE_RATE


def random_transcript(rng):
  words = ["".join(rng.choice(list(LETTERS), int(rng.integers(2, 5))))
           for _ in range(int(rng.integers(1, 3)))]
  return " ".join(words)


def synthesize(text, rng):
  pitch = 1.0 + rng.uniform(-0.04, 0.04)
  harmonic = rng.uniform(0.0, 0.4)
  loudness = rng.uniform(0.3, 0.8)
  pieces = [np.zeros(int(RATE * rng.uniform(0.02, 0.08)))]
  for ch in text:
    n = int(RATE * rng.uniform(0.06, 0.09))
    t = np.arange(n) / RATE
    f = FREQUENCIES[ch] * pitch
    tone = np.sin(2 * np.pi * f * t) + harmonic * np.sin(4 * np.pi * f * t)
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005)  # 5 ms ramps: no clicks
    pieces.append(tone * envelope / (1 + harmonic))
    pieces.append(np.zeros(int(RATE * rng.uniform(0.02, 0.04))))
  pieces.append(np.zeros(int(RATE * rng.uniform(0.02, 0.08))))
  signal = loudness * np.concatenate(pieces)
  signal += rng.normal(0.0, rng.uniform(0.005, 0.03), signal.shape)
  return signal


def write_corpus(folder, num_train=300, num_dev=40, seed=0):
  """Writes the WAVs and manifests; returns {split: manifest path}."""
  rng = np.random.default_rng(seed)
  os.makedirs(os.path.join(folder, "wav"), exist_ok=True)
  manifests = {}
  for split, count in (("train", num_train), ("dev", num_dev)):
    lines = []
    for i in range(count):
      text = random_transcript(rng)
      rel = os.path.join("wav", f"{split}_{i:04d}.wav")
      audio.write_wav(os.path.join(folder, rel), synthesize(text, rng))
      lines.append(f"{rel}\t{text}\n")
    manifests[split] = os.path.join(folder, f"{split}.tsv")
    with open(manifests[split], "w") as f:
      f.writelines(lines)
  return manifests
