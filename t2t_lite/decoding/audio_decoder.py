"""Decoding speech: WAV files (or a split's utterances) in, transcripts out.

The decoder of problems that emit CTC frames (registry.decoders["ctc_frames"]). Features
come from the problem's own preprocessing (the same tf code as training, without
SpecAugment); the model's predict transcribes (DeepSpeech2: CTC greedy search with
beam_size=1, else CTC beam search).

With a word n-gram language model (`--decode_hparams=lm_path=LM.arpa,lm_weight=..,
word_bonus=..`) the model's per-frame probabilities are searched by ctc_lm's prefix beam
search, scoring ln p_ctc + lm_weight ln p_lm + word_bonus |words|. With lm_weight=0 and
word_bonus=0 the LM cannot change a score, and TensorFlow's own beam search runs.
`tune_lm` tries a grid of both on a split and prints the table.

With `word_timestamps=true` each transcript's words are timed by its CTC alignment
(ctc_timing): `--decode_to_file=OUT` also writes OUT.words.jsonl, one JSON object per
input, {"transcript": "...", "words": [{"word": "...", "start": s, "end": s}, ...]}.
"""
import dataclasses
import json
import os
import sys

import numpy as np
import tensorflow as tf

from t2t_lite import options, registry, speech_metrics
from t2t_lite.data import audio
from t2t_lite.data.text_encoder import write_text_atomically
from t2t_lite.decoding import ctc, ctc_lm, ctc_timing, decoder, ngram_lm
from t2t_lite.decoding.batching import map_length_sorted
from t2t_lite.errors import UserError
from t2t_lite.options import setting

# t2t-decoder --tune_lm's grid: every lm_weight with every word_bonus.
TUNE_LM_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)
TUNE_WORD_BONUSES = (-1.0, 0.0, 1.0, 2.0, 3.0)


@options.group("AudioDecodeHParams")
class AudioDecodeHParams(decoder.DecodeHParams):
  """--decode_hparams of speech: the search's settings, and its word language model."""
  lm_path: str = setting("", "a word n-gram language model (ARPA or KenLM binary) for the "
                         "CTC beam search (empty: none)")
  lm_weight: float = setting(0.5, "with lm_path: the weight of ln p_lm (DeepSpeech2's "
                             "alpha)", minimum=0)
  word_bonus: float = setting(1.0, "with lm_path: added per word (DeepSpeech2's beta)")
  word_timestamps: bool = setting(False, "each word's start and end time from the CTC "
                                  "alignment: --decode_to_file also writes FILE.words.jsonl "
                                  "(stdout: JSON lines instead of text); an export gains "
                                  "word_start_seconds and word_end_seconds outputs")

  def uses_lm(self):
    """Whether the language model can change any score."""
    return bool(self.lm_path) and (self.lm_weight != 0 or self.word_bonus != 0)


@registry.register_decoder("ctc_frames")
class AudioDecoder(decoder.Decoder):
  """The Decoder of speech problems: WAV files in, transcripts out."""

  DECODE_HPARAMS = AudioDecodeHParams

  def __init__(self, problem, model, hparams, data_dir, dhp):
    if not isinstance(dhp, AudioDecodeHParams):  # e.g. the trainer's eval decodes
      dhp = AudioDecodeHParams(**dhp.values())
    super().__init__(problem, model, hparams, data_dir, dhp)
    self.encoder = problem.feature_encoders(data_dir)["targets"]
    depth = audio.feature_depth(hparams)
    search = dhp.search()
    self._scorer = ngram_lm.WordScorer(ngram_lm.load(dhp.lm_path)) if dhp.lm_path else None
    self.words = ctc_lm.Words(self.encoder.pieces, self.encoder.word_boundary)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int16)])
    def features(waveform):
      example = {"waveform": waveform, "targets": tf.zeros([0], tf.int32)}
      return problem.preprocess_example(example, False, hparams)["inputs"]

    @tf.function(input_signature=[tf.TensorSpec([None, None, depth], tf.float32),
                                  tf.TensorSpec([None], tf.int32)])
    def transcribe(inputs, lengths):
      return self.model.predict({"inputs": inputs, "inputs_length": lengths}, search)[0]

    @tf.function(input_signature=[tf.TensorSpec([None, None, depth], tf.float32),
                                  tf.TensorSpec([None], tf.int32)])
    def log_probs(inputs, lengths):
      return self.model.frame_log_probs({"inputs": inputs, "inputs_length": lengths})
    self._features, self._transcribe, self._log_probs = features, transcribe, log_probs

  @classmethod
  def check_vocabulary(cls, problem, hparams, data_dir):
    size = problem.feature_encoders(data_dir)["targets"].vocab_size
    if size != hparams.target_vocab_size:
      raise UserError(f"the transcript vocabulary in {data_dir} has {size} tokens but the "
                      f"model was trained with {hparams.target_vocab_size}; pass the "
                      "--data_dir the run was trained with")

  @property
  def frame_seconds(self):
    """Seconds of audio per frame of the model's frame_log_probs."""
    stride = type(self.model).output_frame_stride(self.hparams)
    return self.hparams.audio_frame_step_ms / 1000.0 * stride

  def _batched(self, waveforms, fn):
    """fn(padded features [b, t, f], lengths [b]) -> a list per batch, over waveforms
    batched by length; results in input order."""
    feats = [self._features(tf.constant(w, tf.int16)).numpy() for w in waveforms]

    def run(batch):
      width = max(len(f) for f in batch)
      padded = np.stack([np.pad(f, [(0, width - len(f)), (0, 0)]) for f in batch])
      return fn(tf.constant(padded, tf.float32), tf.constant([len(f) for f in batch],
                                                             tf.int32))
    return map_length_sorted(feats, self.dhp.batch_size, run)

  def frame_log_probs(self, waveforms):
    """int16 waveforms -> each one's per-frame log-probabilities [frames, classes]."""
    def run(inputs, lengths):
      log_probs, frames = self._log_probs(inputs, lengths)
      return [p[:n] for p, n in zip(log_probs.numpy(), frames.numpy())]
    return self._batched(waveforms, run)

  def lm_search(self, lm_weight, word_bonus):
    return ctc_lm.LanguageModelSearch(self.words, self._scorer, lm_weight, word_bonus,
                                      self.dhp.beam_size)

  def transcribe_waveforms(self, waveforms):
    """int16 waveforms -> transcripts, in order (batched by length)."""
    if self.dhp.uses_lm():
      search = self.lm_search(self.dhp.lm_weight, self.dhp.word_bonus)
      return [self.encoder.decode(search.decode(p)[0]) for p in self.frame_log_probs(waveforms)]

    def transcribe(inputs, lengths):
      ids = self._transcribe(inputs, lengths)
      return [self.encoder.decode(row) for row in ids.numpy().tolist()]
    return self._batched(waveforms, transcribe)

  def _best_ids(self, log_probs):
    """The transcript ids this decoder's search finds in one utterance's log_probs."""
    if self.dhp.uses_lm():
      return self.lm_search(self.dhp.lm_weight, self.dhp.word_bonus).decode(log_probs)[0]
    ids = ctc.decode(tf.constant(log_probs[None], tf.float32),
                     tf.constant([len(log_probs)], tf.int32), self.dhp.beam_size)
    return [i for i in ids.numpy()[0].tolist() if i]

  def transcribe_with_word_times(self, waveforms):
    """int16 waveforms -> [{"transcript", "words": [{"word", "start", "end"}]}] (seconds),
    each word timed by the best CTC alignment of the transcript the search finds."""
    results = []
    for log_probs in self.frame_log_probs(waveforms):
      ids = self._best_ids(log_probs)
      spans = ctc_timing.forced_alignment(log_probs, ids)
      words = ctc_timing.word_times(ids, spans, self.words, self.frame_seconds)
      results.append({"transcript": self.encoder.decode(ids), "words": [
          {"word": w, "start": start, "end": end} for w, start, end in words]})
    return results

  def _split_examples(self, split):
    """[(int16 waveform, reference transcript)] of the first num_samples of a split."""
    files = self.problem.data_files(self.data_dir, split)
    ds = tf.data.TFRecordDataset(files).map(self.problem.decode_example)
    if self.dhp.num_samples >= 0:
      ds = ds.take(self.dhp.num_samples)
    return [(ex["waveform"].numpy(), self.encoder.decode(ex["targets"].numpy()))
            for ex in ds]

  def tune_lm(self, split="dev", log=print):
    """Decodes the first num_samples utterances of a split with every (lm_weight,
    word_bonus) of the built-in grid and the LM of lm_path, logs WER and CER of each (and
    of beam search without the LM), and returns the best decode hparams by WER."""
    if not self.dhp.lm_path:
      raise UserError("--tune_lm needs a language model: --decode_hparams=lm_path=LM.arpa")
    examples = self._split_examples(split)
    references = [r for _, r in examples]
    log_probs = self.frame_log_probs([w for w, _ in examples])
    plain = dataclasses.replace(self.dhp, lm_path="")
    rows = [("no LM", "", speech_metrics.error_rates(
        AudioDecoder(self.problem, self.model, self.hparams, self.data_dir, plain)
        .transcribe_waveforms([w for w, _ in examples]), references))]
    log(f"tuning lm_weight and word_bonus on {len(examples)} {split} utterances, beam "
        f"{self.dhp.beam_size}, LM {self.dhp.lm_path}")
    log(f"  {'lm_weight':>9}  {'word_bonus':>10}  {'WER':>7}  {'CER':>7}")
    log(f"  {'no LM':>9}  {'':>10}  {rows[0][2]['wer']:7.4f}  {rows[0][2]['cer']:7.4f}")
    best = None
    for lm_weight in TUNE_LM_WEIGHTS:
      for word_bonus in TUNE_WORD_BONUSES:
        search = self.lm_search(lm_weight, word_bonus)
        texts = [self.encoder.decode(search.decode(p)[0]) for p in log_probs]
        rates = speech_metrics.error_rates(texts, references)
        log(f"  {lm_weight:9.2f}  {word_bonus:10.2f}  {rates['wer']:7.4f}  "
            f"{rates['cer']:7.4f}")
        if best is None or (rates["wer"], rates["cer"]) < (best[2]["wer"], best[2]["cer"]):
          best = (lm_weight, word_bonus, rates)
    lm_weight, word_bonus, rates = best
    log(f"best: --decode_hparams=lm_path={self.dhp.lm_path},lm_weight={lm_weight:g},"
        f"word_bonus={word_bonus:g},beam_size={self.dhp.beam_size}  (WER {rates['wer']:.4f}"
        f"  CER {rates['cer']:.4f}; without the LM: WER {rows[0][2]['wer']:.4f}  CER "
        f"{rows[0][2]['cer']:.4f})")
    return {"lm_weight": lm_weight, "word_bonus": word_bonus, **rates,
            "wer_without_lm": rows[0][2]["wer"], "cer_without_lm": rows[0][2]["cer"]}

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
    waveforms = [self.problem.load_audio(w) for w, _ in entries]
    timed = None
    if self.dhp.word_timestamps:
      timed = self.transcribe_with_word_times(waveforms)
      texts = [t["transcript"] for t in timed]
    else:
      texts = self.transcribe_waveforms(waveforms)
    text = "".join(t + "\n" for t in texts)
    if out_path:
      write_text_atomically(out_path, text)
      if timed is not None:
        write_text_atomically(out_path + ".words.jsonl", _json_lines(timed))
    else:
      sys.stdout.write(_json_lines(timed) if timed is not None else text)
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
        waveforms = [self.problem.load_audio(line.strip())]
        if self.dhp.word_timestamps:
          stdout.write(_json_lines(self.transcribe_with_word_times(waveforms)))
        else:
          stdout.write(self.transcribe_waveforms(waveforms)[0] + "\n")
      except UserError as e:
        stdout.write(f"error: {e}\n")
      stdout.flush()

  def decode_dataset(self, split="dev", log=print):
    """Transcribes utterances of a split; prints reference and hypothesis; returns
    {"wer", "cer"}."""
    examples = self._split_examples(split)
    waveforms = [w for w, _ in examples]
    timed = self.transcribe_with_word_times(waveforms) if self.dhp.word_timestamps else None
    texts = ([t["transcript"] for t in timed] if timed is not None
             else self.transcribe_waveforms(waveforms))
    for i, ((_, reference), text) in enumerate(zip(examples, texts)):
      log(f"TARGET: {reference}")
      log(f"OUTPUT: {text}")
      if timed is not None:
        log(f"WORDS: {json.dumps(timed[i]['words'])}")
    rates = speech_metrics.error_rates(texts, [r for _, r in examples])
    log(f"decoded {len(examples)} {split} utterances: WER {rates['wer']:.4f}  "
        f"CER {rates['cer']:.4f}")
    return rates


def _json_lines(timed):
  return "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in timed)
