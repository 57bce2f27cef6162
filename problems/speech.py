"""Speech-to-text problems: audio in, transcript out.

Datagen stores each utterance's raw 16-bit waveform (bytes) and its transcript ids in the
TFRecords; features (log-mel filterbanks, deltas, normalization, SpecAugment in training)
are computed in the tf.data map by `preprocess_example`, configured by the model's audio_*
hparams. Transcripts use a character vocabulary (letters, space, apostrophe) or, with the
setting vocab=sentencepiece, a SentencePiece model trained on the training transcripts.

  speech_manifest   your own WAV files, listed in train/dev manifests
                    (--problem_settings="train_manifest=train.tsv,dev_manifest=dev.tsv")
  librispeech       LibriSpeech 960 h through TFDS (dev: dev_clean)
  librispeech_clean100  LibriSpeech train_clean100 only
"""
import glob
import hashlib
import json
import os

import tensorflow as tf

from t2t_lite import options, registry, speech_metrics
from t2t_lite.data import audio, problem, tfds_source
from t2t_lite.data.speech_encoders import (
  CharacterEncoder,
  SentencePieceEncoder,
  normalize_transcript,
)
from t2t_lite.data.text_encoder import TokenTextEncoder, ensure_dir
from t2t_lite.decoding import (
  audio_decoder,  # noqa: F401  (the ctc_frames decoder)
  ngram_lm,
)
from t2t_lite.errors import UserError
from t2t_lite.options import setting


@options.group("SpeechSettings")
class SpeechSettings(problem.ProblemSettings):
  vocab: str = setting("char", "the transcripts' vocabulary: characters, or a SentencePiece "
                       "model trained on the training transcripts",
                       choices=("char", "sentencepiece"))
  sentencepiece_vocab_size: int = setting(256, "vocab=sentencepiece: its size", minimum=1)
  lm_order: int = setting(3, "datagen also estimates a word n-gram LM of this order from "
                          "the training transcripts and lm_text_files (0: none)",
                          minimum=2, also=(0,))
  lm_text_files: str = setting("", "more text for that LM: comma-separated globs of files, "
                               "one sentence per line")


@options.group("ManifestSettings")
class ManifestSettings(problem.ProblemSettings):
  train_manifest: str = setting("", "the training WAV files' manifest (TSV: path, "
                                "transcript)")
  dev_manifest: str = setting("", "the dev WAV files' manifest")


class SpeechProblem(problem.Problem):
  """Base: subclasses implement `audio_samples` (and may override `transcripts`)."""

  dataset_splits = ((problem.TRAIN, 10), (problem.DEV, 1))
  eval_metrics = ("ctc_loss", "wer", "cer")
  HPARAMS = (audio.AudioHParams,)
  HPARAMS_KIND = "the audio hparams"
  _tmp_dir = None

  SETTINGS = (SpeechSettings,)

  def lm_path(self, data_dir):
    """Where datagen writes the word language model (an ARPA file)."""
    return os.path.join(data_dir, f"{self.name}.lm.arpa")

  emits = "ctc_frames"

  def feature_spec(self, hparams):
    return {"inputs": tf.TensorSpec([None, audio.feature_depth(hparams)], tf.float32),
            "inputs_length": tf.TensorSpec([], tf.int32),
            "targets": tf.TensorSpec([None], tf.int32)}

  # -- raw data -----------------------------------------------------------------------------
  def audio_samples(self, tmp_dir, split):
    """Yields (int16 waveform at 16 kHz, transcript text) for one split."""
    raise NotImplementedError

  def transcripts(self, tmp_dir, split):
    for _, text in self.audio_samples(tmp_dir, split):
      yield text

  def load_audio(self, path):
    """A WAV file to decode (t2t-decoder) as an int16 waveform."""
    return audio.read_wav(path)

  # -- vocabulary ---------------------------------------------------------------------------
  def _char_vocab_path(self, data_dir):
    return os.path.join(data_dir, f"vocab.{self.name}.chars.txt")

  def _sp_prefix(self, data_dir):
    return os.path.join(data_dir, f"vocab.{self.name}.sentencepiece")

  def feature_encoders(self, data_dir):
    sp_model = self._sp_prefix(data_dir) + ".model"
    if tf.io.gfile.exists(sp_model):
      return {"targets": SentencePieceEncoder(sp_model)}
    if tf.io.gfile.exists(self._char_vocab_path(data_dir)):
      encoder = CharacterEncoder()
      stored = TokenTextEncoder(self._char_vocab_path(data_dir)).vocab_size
      if stored != encoder.vocab_size:
        raise UserError(f"vocabulary {self._char_vocab_path(data_dir)} has {stored} tokens, "
                        f"{self.name} needs {encoder.vocab_size}; regenerate the data_dir")
      return {"targets": encoder}
    raise UserError(f"no vocabulary for problem '{self.name}' in {data_dir}; run "
                    f"t2t-datagen --problem={self.name} --data_dir={data_dir}")

  def write_vocab(self, data_dir):
    settings = self.settings
    sp_model = self._sp_prefix(data_dir) + ".model"
    chars = self._char_vocab_path(data_dir)
    existing = ("sentencepiece" if tf.io.gfile.exists(sp_model) else
                "char" if tf.io.gfile.exists(chars) else None)
    if existing and existing != settings.vocab:
      raise UserError(f"{data_dir} already holds {self.name} data with the {existing} "
                      f"vocabulary; use another --data_dir for vocab={settings.vocab}")
    if existing:
      return
    if settings.vocab == "char":
      # Written as a token list (spaces are not tokens there): it records the choice.
      TokenTextEncoder(tokens=CharacterEncoder().pieces[:2] + [
          "<space>" if c == " " else c for c in CharacterEncoder().pieces[2:]]
      ).store_to_file(chars)
    else:
      SentencePieceEncoder.train(self.transcripts(self._tmp_dir, problem.TRAIN),
                                 self._sp_prefix(data_dir), settings.sentencepiece_vocab_size)

  def update_hparams(self, hparams, data_dir):
    self.check_hparams(hparams)
    hparams.target_vocab_size = self.feature_encoders(data_dir)["targets"].vocab_size
    hparams.input_vocab_size = 0  # audio features, not ids
    if (hparams.audio_normalization == "global" and not hparams.audio_global_mean
        and not hparams.audio_global_std):
      hparams.audio_global_mean, hparams.audio_global_std = self.global_statistics(
          data_dir, hparams)
    return hparams

  def global_statistics(self, data_dir, hparams):
    """(mean, std) of the unnormalized features over the first GLOBAL_STATS_UTTERANCES
    training utterances (round-robin over the shards), measured once per front-end
    configuration and kept in data_dir."""
    front_end = {k: hparams.get(k) for k in ("audio_num_mel_bins", "audio_frame_length_ms",
                                             "audio_frame_step_ms", "audio_add_deltas")}
    key = hashlib.sha256(json.dumps(front_end, sort_keys=True).encode()).hexdigest()[:12]
    path = os.path.join(data_dir, f"{self.name}.feature_stats.{key}.json")
    if tf.io.gfile.exists(path):
      with tf.io.gfile.GFile(path) as f:
        stats = json.load(f)
      return stats["mean"], stats["std"]
    files = self.data_files(data_dir, problem.TRAIN)
    ds = tf.data.Dataset.from_tensor_slices(files).interleave(
        tf.data.TFRecordDataset, cycle_length=len(files), block_length=1)
    ds = ds.map(self.decode_example).take(audio.GLOBAL_STATS_UTTERANCES)
    mean, std = audio.global_statistics((ex["waveform"].numpy() for ex in ds), hparams)
    tmp = path + ".tmp"
    with tf.io.gfile.GFile(tmp, "w") as f:
      json.dump({"front_end": front_end, "mean": mean, "std": std}, f)
    tf.io.gfile.rename(tmp, path, overwrite=True)
    return mean, std

  def detokenizer(self, data_dir):
    encoder = self.feature_encoders(data_dir)["targets"]
    return speech_metrics.table_detokenizer(encoder.pieces, encoder.word_boundary)

  # -- generation ---------------------------------------------------------------------------
  def generate_data(self, data_dir, tmp_dir=None, log=print):
    self._tmp_dir = tmp_dir  # write_vocab trains SentencePiece on the raw transcripts
    ensure_dir(data_dir)
    super().generate_data(data_dir, tmp_dir, log)
    self.write_language_model(data_dir, tmp_dir, log)

  def lm_sentences(self, tmp_dir):
    """The language model's text: normalized training transcripts, then the lines of
    lm_text_files."""
    for text in self.transcripts(tmp_dir, problem.TRAIN):
      yield normalize_transcript(text)
    patterns = [p.strip() for p in self.settings.lm_text_files.split(",") if p.strip()]
    for pattern in patterns:
      paths = sorted(glob.glob(os.path.expanduser(pattern)))
      if not paths:
        raise UserError(f"--problem_settings lm_text_files: {pattern} matches no file")
      for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
          for line in f:
            line = normalize_transcript(line)
            if line:
              yield line

  def write_language_model(self, data_dir, tmp_dir, log=print):
    """Estimates the word n-gram LM (setting lm_order) into data_dir, once."""
    order, path = self.settings.lm_order, self.lm_path(data_dir)
    if order <= 0:
      return
    if tf.io.gfile.exists(path):
      log(f"{self.name}: language model {path} already there, keeping it")
      return
    counts = ngram_lm.estimate_arpa(self.lm_sentences(tmp_dir), path, order)
    log(f"{self.name}: wrote a {order}-gram language model ("
        + ", ".join(f"{n}-grams {c}" for n, c in counts.items()) + f") to {path}")

  def generate_encoded_samples(self, data_dir, tmp_dir, split):
    encoder = self.feature_encoders(data_dir)["targets"]
    for waveform, text in self.audio_samples(tmp_dir, split):
      yield {"waveform": waveform.astype("<i2").tobytes(), "targets": encoder.encode(text)}

  # -- reading ------------------------------------------------------------------------------
  def example_spec(self):
    return {"waveform": tf.io.FixedLenFeature([], tf.string),
            "targets": tf.io.VarLenFeature(tf.int64)}

  def decode_example(self, serialized):
    parsed = tf.io.parse_single_example(serialized, self.example_spec())
    return {"waveform": tf.io.decode_raw(parsed["waveform"], tf.int16),
            "targets": tf.cast(tf.sparse.to_dense(parsed["targets"]), tf.int32)}

  def sort_length(self, example):
    """Samples of the waveform (its frames grow with them)."""
    return tf.shape(example["waveform"])[0]

  def check_hparams(self, hparams):
    super().check_hparams(hparams)
    audio.check_speed_perturbation(hparams.audio_speed_perturbation)

  def uses_example_seeds(self, hparams):
    # Speed perturbation and SpecAugment draw from the example's seed.
    return bool(hparams.audio_speed_perturbation) or hparams.audio_spec_augment

  def preprocess_example(self, example, training, hparams):
    self.check_hparams(hparams)
    waveform = example["waveform"]
    # The input pipeline adds it to training examples (uses_example_seeds).
    seed = (example[problem.EXAMPLE_SEED] if training and self.uses_example_seeds(hparams)
            else None)
    if training and hparams.audio_speed_perturbation:
      waveform = audio.speed_perturbed(waveform, hparams.audio_speed_perturbation, seed)
    features = audio.features_from_waveform(waveform, hparams, training, seed)
    return {"inputs": features, "inputs_length": tf.shape(features)[0],
            "targets": example["targets"]}


def read_manifest(path):
  """[(absolute wav path, transcript, line number)] from a TSV (or .csv) manifest of
  `wav_path<TAB>transcript` lines; wav paths are relative to the manifest's folder."""
  if not path:
    raise UserError("speech_manifest needs its manifests: --problem_settings="
                    "'train_manifest=PATH,dev_manifest=PATH'")
  path = os.path.expanduser(path)
  if not os.path.isfile(path):
    raise UserError(f"manifest {path} does not exist")
  separator = "," if path.endswith(".csv") else "\t"
  base = os.path.dirname(os.path.abspath(path))
  rows = []
  with open(path, "rb") as f:
    raw = f.read()
  try:
    text = raw.decode("utf-8")
  except UnicodeDecodeError as e:
    line = raw[:e.start].count(b"\n") + 1
    raise UserError(f"manifest {path} line {line} is not UTF-8 text") from None
  for n, line in enumerate(text.splitlines(), 1):
    if not line.strip():
      continue
    if separator not in line:
      shown = "<TAB>" if separator == "\t" else ","
      raise UserError(f"manifest {path} line {n}: expected wav_path{shown}transcript, got "
                      f"{line[:60]!r}")
    wav, transcript = line.split(separator, 1)
    if n == 1 and wav.strip().lower() in ("wav_path", "path", "wav", "file", "filename"):
      continue  # a header
    rows.append((os.path.join(base, wav.strip()), transcript.strip(), n))
  if not rows:
    raise UserError(f"manifest {path} lists no audio files")
  return rows


@registry.register_problem
class SpeechManifest(SpeechProblem):
  """Your own 16 kHz 16-bit PCM WAV files listed in a train and a dev manifest."""

  SETTINGS = (ManifestSettings,)

  def _manifest(self, split):
    return read_manifest(getattr(self.settings, f"{split}_manifest"))

  def transcripts(self, tmp_dir, split):
    for _, text, _ in self._manifest(split):
      yield text

  def audio_samples(self, tmp_dir, split):
    manifest = getattr(self.settings, f"{split}_manifest")
    for wav, text, n in self._manifest(split):
      try:
        yield audio.read_wav(wav), text
      except UserError as e:
        raise UserError(f"{e} (manifest {manifest} line {n})") from None


class _Librispeech(SpeechProblem):
  """LibriSpeech through TensorFlow Datasets (downloaded into --tmp_dir/tfds, or the
  setting tfds_data_dir). Transcripts are upper case: normalized to the vocabulary."""

  dataset_splits = ((problem.TRAIN, 100), (problem.DEV, 1))
  tfds_splits = {problem.TRAIN: "train_clean100+train_clean360+train_other500",
                 problem.DEV: "dev_clean"}

  SETTINGS = (tfds_source.TFDSDirSettings,)

  def audio_samples(self, tmp_dir, split):
    import tensorflow_datasets as tfds  # heavy import: only problems that read TFDS pay it
    data_dir = self.settings.tfds_data_dir or (os.path.join(tmp_dir, "tfds") if tmp_dir
                                                  else None)
    ds = tfds.load("librispeech", split=self.tfds_splits[split], data_dir=data_dir,
                   shuffle_files=False)
    for example in tfds.as_numpy(ds):
      yield example["speech"].astype("int16"), example["text"].decode("utf-8")


@registry.register_problem
class Librispeech(_Librispeech):
  pass


@registry.register_problem
class LibrispeechClean100(_Librispeech):
  dataset_splits = ((problem.TRAIN, 20), (problem.DEV, 1))
  tfds_splits = {problem.TRAIN: "train_clean100", problem.DEV: "dev_clean"}
