"""Decoding speech: WAV files (or a split's utterances) in, transcripts out.

Speech problems name it as their `decoder_class`. Features come from the problem's own
preprocessing (the same tf code as training, without SpecAugment); the model's predict
transcribes (DeepSpeech2: CTC greedy search with beam_size=1, else CTC beam search).
"""
import os
import sys

import numpy as np
import tensorflow as tf

from t2t_lite import speech_metrics
from t2t_lite.data import audio
from t2t_lite.data.text_encoder import write_text_atomically
from t2t_lite.decoding import decoder
from t2t_lite.decoding.batching import map_length_sorted
from t2t_lite.errors import UserError
from t2t_lite.serving import export


class AudioDecoder(decoder.Decoder):
  """The Decoder of speech problems: WAV files in, transcripts out."""

  def __init__(self, problem, model, hparams, data_dir, dhp):
    super().__init__(problem, model, hparams, data_dir, dhp)
    self.encoder = problem.feature_encoders(data_dir)["targets"]
    depth = audio.feature_depth(hparams)
    search = dhp.search()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int16)])
    def features(waveform):
      example = {"waveform": waveform, "targets": tf.zeros([0], tf.int32)}
      return problem.preprocess_example(example, False, hparams)["inputs"]

    @tf.function(input_signature=[tf.TensorSpec([None, None, depth], tf.float32),
                                  tf.TensorSpec([None], tf.int32)])
    def transcribe(inputs, lengths):
      return self.model.predict({"inputs": inputs, "inputs_length": lengths}, search)[0]
    self._features, self._transcribe = features, transcribe

  @classmethod
  def check_vocabulary(cls, problem, hparams, data_dir):
    size = problem.feature_encoders(data_dir)["targets"].vocab_size
    if size != hparams.target_vocab_size:
      raise UserError(f"the transcript vocabulary in {data_dir} has {size} tokens but the "
                      f"model was trained with {hparams.target_vocab_size}; pass the "
                      "--data_dir the run was trained with")

  def serving_module(self, dtype="float32"):
    """WAV bytes (or float waveforms) in, transcripts out."""
    return export.SpeechServing(export.with_dtype(self.model, dtype), self.problem,
                                self.hparams, self.data_dir, self.dhp.search())

  def transcribe_waveforms(self, waveforms):
    """int16 waveforms -> transcripts, in order (batched by length)."""
    feats = [self._features(tf.constant(w, tf.int16)).numpy() for w in waveforms]

    def transcribe(batch):
      width = max(len(f) for f in batch)
      padded = np.stack([np.pad(f, [(0, width - len(f)), (0, 0)]) for f in batch])
      ids = self._transcribe(tf.constant(padded, tf.float32),
                             tf.constant([len(f) for f in batch], tf.int32))
      return [self.encoder.decode(row) for row in ids.numpy().tolist()]
    return map_length_sorted(feats, self.dhp.batch_size, transcribe)

  def _read_list(self, path):
    """[(wav path, reference or None)]: one WAV path per line, relative to the list's
    folder, optionally followed by a tab and the reference transcript."""
    if not tf.io.gfile.exists(path):
      raise UserError(f"--decode_from_file={path} does not exist")
    with open(path, "rb") as f:
      raw = f.read()
    try:
      lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
      line = raw[:e.start].count(b"\n") + 1
      raise UserError(f"{path} line {line} is not UTF-8 text; it must list one WAV path per "
                      "line") from None
    base = os.path.dirname(os.path.abspath(path))
    entries = []
    for line in lines:
      if not line.strip():
        continue
      wav, _, reference = line.partition("\t")
      entries.append((os.path.join(base, os.path.expanduser(wav.strip())),
                      reference.strip() if reference else None))
    return entries

  def decode_from_file(self, path, out_path=None, log=None):
    """Transcribes the WAV files listed in `path`; writes one transcript per line. When
    every line also holds a reference transcript, logs WER and CER."""
    log = log or (lambda m: print(m, file=sys.stderr))
    entries = self._read_list(path)
    texts = self.transcribe_waveforms([self.problem.load_audio(w) for w, _ in entries])
    text = "".join(t + "\n" for t in texts)
    if out_path:
      write_text_atomically(out_path, text)
    else:
      sys.stdout.write(text)
    references = [r for _, r in entries]
    if entries and all(r is not None for r in references):
      rates = speech_metrics.error_rates(texts, [self.encoder.decode(self.encoder.encode(r))
                                                 for r in references])
      log(f"decoded {len(entries)} files: WER {rates['wer']:.4f}  CER {rates['cer']:.4f}")
    return texts

  def interactive(self, stdin=sys.stdin, stdout=sys.stdout):
    """Reads one WAV path per line until EOF and prints its transcript."""
    while True:
      line = stdin.readline()
      if not line:
        return
      try:
        text = self.transcribe_waveforms([self.problem.load_audio(line.strip())])[0]
        stdout.write(text + "\n")
      except UserError as e:
        stdout.write(f"error: {e}\n")
      stdout.flush()

  def decode_dataset(self, split="dev", log=print):
    """Transcribes utterances of a split; prints reference and hypothesis; returns
    {"wer", "cer"}."""
    files = self.problem.data_files(self.data_dir, split)
    ds = tf.data.TFRecordDataset(files).map(self.problem.decode_example)
    if self.dhp.num_samples >= 0:
      ds = ds.take(self.dhp.num_samples)
    examples = [(ex["waveform"].numpy(), self.encoder.decode(ex["targets"].numpy()))
                for ex in ds]
    texts = self.transcribe_waveforms([w for w, _ in examples])
    for (_, reference), text in zip(examples, texts):
      log(f"TARGET: {reference}")
      log(f"OUTPUT: {text}")
    rates = speech_metrics.error_rates(texts, [r for _, r in examples])
    log(f"decoded {len(examples)} {split} utterances: WER {rates['wer']:.4f}  "
        f"CER {rates['cer']:.4f}")
    return rates
