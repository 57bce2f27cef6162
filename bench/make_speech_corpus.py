"""Builds a realistic English speech corpus without a network, deterministically.

Sentences: real English prose shipped on this machine — Python's pydoc topics
(pydoc_data.topics), the docstrings of Python's standard library (parsed with ast, never
imported) and the plain-text READMEs under /usr/share/doc — split into sentences and kept
when they are natural: 4-20 words of letters (plus commas, apostrophes and hyphens),
starting with a capital and ending with a full stop, no code-like words.

Speech: espeak-ng, one utterance per sentence, its voice drawn from a hash of the
sentence: six English accents x eleven voice variants (m1-m7, f1-f4), a rate of 130-200
words per minute and a pitch of 25-75. Then, with sox (dither off, so the output is
bit-exact across runs): resampled to 16 kHz 16-bit mono; a third of the utterances get
room reverberation (sox `reverb`, reverberance 20-60%); then noise (white, pink or brown,
seeded from the sentence) is added at an SNR of 20, 15 or 10 dB to three quarters of them
(the rest stay clean).

Split by a hash of the normalized sentence (80% train, 10% dev, 10% test): a sentence is
in one split only, so no test sentence is heard in training. Writes OUT/wav/*.wav and the
manifests `train.tsv`, `dev.tsv`, `test.tsv` (`wav_path<TAB>transcript`, paths relative to
OUT) that `t2t-datagen --problem=speech_manifest` reads, `metadata.tsv` (each utterance's
voice, rate, pitch, reverb and SNR) and `summary.json` (hours per split, make-up).

    nice python bench/make_speech_corpus.py --out=/work/speechdata/espeak --num_sentences=3000

The same arguments rebuild the same bytes; existing WAVs are kept (an interrupted build
resumes), manifests are written last.
"""
import argparse
import ast
import collections
import glob
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import sysconfig
import tempfile

import numpy as np

RATE = 16000
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbcwmd")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4")
SNRS_DB = (None, 20, 15, 10)  # None: clean
NOISES = ("white", "pink", "brown")
SENTENCE = re.compile(r"[A-Z][a-z']*(?:,? [A-Za-z][a-z'-]*)*\.")
SPLITS = (("train", 80), ("dev", 90), ("test", 100))  # hash % 100 below the bound

# Prose-looking words that are really code or markup.
CODE_WORDS = re.compile(r"(?:^|\s)(?:def|args|kwargs|str|int|dict|bool|obj|func|self|"
                        r"cls|str|repr|eg|ie|etc|vs|foo|bar|baz)(?:\s|[,.]|$)")


def _digest(text, salt=""):
  return int(hashlib.sha256((salt + text).encode()).hexdigest(), 16)


def normalize(text):
  """The transcript: lower case letters, apostrophes, single spaces (as speech_manifest's
  character vocabulary normalizes; hyphens are spoken as a word break)."""
  return " ".join(re.sub(r"[^a-z']+", " ", text.lower()).split())


def _sentences(text):
  for candidate in re.split(r"(?<=[.!?])\s+", " ".join(text.split())):
    if (SENTENCE.fullmatch(candidate) and 4 <= len(candidate.split()) <= 20
        and not CODE_WORDS.search(candidate.lower()) and "--" not in candidate
        and not re.search(r"[a-z][A-Z]", candidate)):  # camelCase
      yield candidate


def _pydoc_topics():
  import pydoc_data.topics
  for name in sorted(pydoc_data.topics.topics):
    yield pydoc_data.topics.topics[name]


def _stdlib_docstrings():
  root = sysconfig.get_paths()["stdlib"]
  for path in sorted(glob.glob(os.path.join(root, "*.py"))
                     + glob.glob(os.path.join(root, "*", "*.py"))):
    if "site-packages" in path or "/test" in path:
      continue
    try:
      with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    except (SyntaxError, UnicodeDecodeError, ValueError):
      continue
    for node in ast.walk(tree):
      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        doc = ast.get_docstring(node)
        if doc:
          yield doc


def _debian_docs():
  for path in sorted(glob.glob("/usr/share/doc/*/README*")):
    opener = gzip.open if path.endswith(".gz") else open
    try:
      with opener(path, "rt", encoding="utf-8") as f:
        yield f.read()
    except (OSError, UnicodeDecodeError):
      continue


def collect_sentences():
  """Unique natural sentences (by transcript), sorted by a hash: a stable order that does
  not depend on which source came first."""
  seen = {}
  for source in (_pydoc_topics(), _stdlib_docstrings(), _debian_docs()):
    for text in source:
      for sentence in _sentences(text):
        seen.setdefault(normalize(sentence), sentence)
  return [seen[k] for k in sorted(seen, key=lambda k: _digest(k))]


def split_of(transcript):
  bucket = _digest(transcript, "split") % 100
  return next(name for name, bound in SPLITS if bucket < bound)


def rendition(transcript):
  """The voice, rate, pitch, reverb and noise of a sentence, from its hash."""
  rng = np.random.default_rng(_digest(transcript, "voice") % 2**63)
  return {"voice": f"{ACCENTS[rng.integers(len(ACCENTS))]}+{VARIANTS[rng.integers(len(VARIANTS))]}",
          "rate": int(rng.integers(130, 201)), "pitch": int(rng.integers(25, 76)),
          "reverb": int(rng.integers(20, 61)) if rng.random() < 1 / 3 else 0,
          "snr_db": SNRS_DB[rng.integers(len(SNRS_DB))],
          "noise": NOISES[rng.integers(len(NOISES))],
          "noise_seed": int(rng.integers(2**31))}


def _colored_noise(kind, n, seed):
  rng = np.random.default_rng(seed)
  white = rng.standard_normal(n)
  if kind == "white":
    return white
  spectrum = np.fft.rfft(white)
  f = np.maximum(np.arange(len(spectrum)), 1.0)
  spectrum /= np.sqrt(f) if kind == "pink" else f  # 1/f or 1/f^2 power
  return np.fft.irfft(spectrum, n)


def _read_wav(path):
  import wave
  with wave.open(path, "rb") as w:
    assert w.getframerate() == RATE and w.getsampwidth() == 2 and w.getnchannels() == 1
    return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768


def _write_wav(path, signal):
  import wave
  tmp = path + ".tmp"
  with wave.open(tmp, "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(RATE)
    w.writeframes((np.clip(signal, -1, 1) * 32767).round().astype("<i2").tobytes())
  os.replace(tmp, path)


def synthesize(sentence, spec, path):
  """espeak-ng -> sox (16 kHz, reverb) -> numpy noise at the SNR -> path."""
  with tempfile.TemporaryDirectory() as tmp:
    raw, converted = os.path.join(tmp, "raw.wav"), os.path.join(tmp, "16k.wav")
    subprocess.run(["espeak-ng", "-v", spec["voice"], "-s", str(spec["rate"]), "-p",
                    str(spec["pitch"]), "-w", raw, sentence], check=True)
    # Headroom first: resampling and reverberation overshoot espeak-ng's full scale.
    effects = ["gain", "-6", "rate", "-h", str(RATE)]
    if spec["reverb"]:
      # reverberance, HF damping, room scale: a small-to-medium room.
      effects += ["reverb", str(spec["reverb"]), "50", "60"]
    effects += ["gain", "-n", "-3"]
    subprocess.run(["sox", "-D", raw, "-b", "16", "-c", "1", converted] + effects,
                   check=True)
    signal = _read_wav(converted)
  if spec["snr_db"] is not None and len(signal):
    noise = _colored_noise(spec["noise"], len(signal), spec["noise_seed"])
    power = np.mean(signal ** 2)
    noise *= np.sqrt(power / 10 ** (spec["snr_db"] / 10) / np.mean(noise ** 2))
    signal = signal + noise
    signal *= min(1.0, 0.95 / np.max(np.abs(signal)))
  _write_wav(path, signal)
  return len(signal) / RATE


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", required=True, help="output folder (WAVs and manifests)")
  parser.add_argument("--num_sentences", type=int, default=3000,
                      help="sentences to speak (the first N of the hash order; -1: all)")
  args = parser.parse_args(argv)
  for tool in ("espeak-ng", "sox"):
    if subprocess.run(["which", tool], capture_output=True).returncode:
      sys.exit(f"make_speech_corpus: {tool} is not installed; apt-get install -y espeak-ng sox")
  sentences = collect_sentences()
  available = len(sentences)
  if args.num_sentences >= 0:
    sentences = sentences[:args.num_sentences]
  os.makedirs(os.path.join(args.out, "wav"), exist_ok=True)
  rows = collections.defaultdict(list)
  metadata = ["wav_path\tsplit\tvoice\trate\tpitch\treverb\tsnr_db\tnoise\tseconds\tsentence\n"]
  seconds = collections.Counter()
  make_up = collections.Counter()
  for i, sentence in enumerate(sentences):
    transcript = normalize(sentence)
    split, spec = split_of(transcript), rendition(transcript)
    rel = os.path.join("wav", f"{_digest(transcript) % 16**12:012x}.wav")
    path = os.path.join(args.out, rel)
    if os.path.exists(path):
      import wave
      with wave.open(path, "rb") as w:
        duration = w.getnframes() / RATE
    else:
      duration = synthesize(sentence, spec, path)
    rows[split].append(f"{rel}\t{transcript}\n")
    seconds[split] += duration
    make_up[f"accent {spec['voice'].split('+')[0]}"] += 1
    make_up[f"variant {spec['voice'].split('+')[1]}"] += 1
    make_up["reverb" if spec["reverb"] else "no reverb"] += 1
    make_up[f"snr {spec['snr_db']} dB {spec['noise']}" if spec["snr_db"] else "clean"] += 1
    metadata.append(f"{rel}\t{split}\t{spec['voice']}\t{spec['rate']}\t{spec['pitch']}\t"
                    f"{spec['reverb']}\t{spec['snr_db'] or ''}\t{spec['noise']}\t"
                    f"{duration:.3f}\t{sentence}\n")
    if (i + 1) % 250 == 0:
      print(f"{i + 1}/{len(sentences)} utterances, {sum(seconds.values()) / 3600:.2f} h",
            flush=True)
  for split, _ in SPLITS:
    with open(os.path.join(args.out, f"{split}.tsv"), "w") as f:
      f.writelines(rows[split])
  with open(os.path.join(args.out, "metadata.tsv"), "w") as f:
    f.writelines(metadata)
  summary = {"sentences_available": available, "utterances": {s: len(rows[s]) for s, _ in SPLITS},
             "hours": {s: round(seconds[s] / 3600, 3) for s, _ in SPLITS},
             "make_up": dict(sorted(make_up.items()))}
  with open(os.path.join(args.out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=1)
  print(json.dumps(summary, indent=1))


if __name__ == "__main__":
  main()
