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


def synthesize(text, rng, word_gap=0.0, word_times=None):
  """The utterance of `text`. With word_gap, that many seconds of silence go before and
  after each space tone, and `word_times` (a list) receives each word's (start, end) in
  seconds: its first letter tone's start and its last one's end."""
  pitch = 1.0 + rng.uniform(-0.04, 0.04)
  harmonic = rng.uniform(0.0, 0.4)
  loudness = rng.uniform(0.3, 0.8)
  pieces = [np.zeros(int(RATE * rng.uniform(0.02, 0.08)))]
  for i, ch in enumerate(text):
    n = int(RATE * rng.uniform(0.06, 0.09))
    t = np.arange(n) / RATE
    f = FREQUENCIES[ch] * pitch
    tone = np.sin(2 * np.pi * f * t) + harmonic * np.sin(4 * np.pi * f * t)
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005)  # 5 ms ramps: no clicks
    gap = [np.zeros(int(RATE * word_gap))] if ch == " " and word_gap else []
    pieces += gap
    start = sum(len(p) for p in pieces) / RATE
    if word_times is not None and ch != " " and (i == 0 or text[i - 1] == " "):
      word_times.append([start, None])
    pieces.append(tone * envelope / (1 + harmonic))
    if word_times is not None and ch != " ":
      word_times[-1][1] = start + n / RATE
    pieces += gap
    pieces.append(np.zeros(int(RATE * rng.uniform(0.02, 0.04))))
  pieces.append(np.zeros(int(RATE * rng.uniform(0.02, 0.08))))
  signal = loudness * np.concatenate(pieces)
  signal += rng.normal(0.0, rng.uniform(0.005, 0.03), signal.shape)
  return signal


def word_list(count, seed=1):
  """`count` distinct words of 2-4 letters: a closed vocabulary, as real speech has."""
  rng = np.random.default_rng(seed)
  words = []
  while len(words) < count:
    word = "".join(rng.choice(list(LETTERS), int(rng.integers(2, 5))))
    if word not in words:
      words.append(word)
  return words


def sentence_from(words, rng):
  """1-3 words of `words`, each half the time the one after the previous in the list (a
  language a word n-gram model can learn)."""
  out = [words[int(rng.integers(len(words)))]]
  for _ in range(int(rng.integers(0, 3))):
    follow = rng.random() < 0.5
    out.append(words[(words.index(out[-1]) + 1) % len(words)] if follow
               else words[int(rng.integers(len(words)))])
  return " ".join(out)


def write_corpus(folder, num_train=300, num_dev=40, seed=0, words=None):
  """Writes the WAVs and manifests; returns {split: manifest path}. Transcripts are
  random letter strings, or sentences of `words` (sentence_from) when given."""
  rng = np.random.default_rng(seed)
  os.makedirs(os.path.join(folder, "wav"), exist_ok=True)
  manifests = {}
  for split, count in (("train", num_train), ("dev", num_dev)):
    lines = []
    for i in range(count):
      text = random_transcript(rng) if words is None else sentence_from(words, rng)
      rel = os.path.join("wav", f"{split}_{i:04d}.wav")
      audio.write_wav(os.path.join(folder, rel), synthesize(text, rng))
      lines.append(f"{rel}\t{text}\n")
    manifests[split] = os.path.join(folder, f"{split}.tsv")
    with open(manifests[split], "w") as f:
      f.writelines(lines)
  return manifests
