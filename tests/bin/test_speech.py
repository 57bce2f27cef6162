"""Speech end to end through the binaries: a synthesized corpus of tone sequences that
spell words -> t2t-datagen -> t2t-trainer (deep_speech2_tiny) -> t2t-decoder on held-out
WAV files, which must transcribe with CER <= 0.2."""
import os
import time

import pytest

from t2t_lite import speech_metrics
from tests import speech_data
from tests.bin.conftest import SPEECH_STEPS
from tests.bin.helpers import error_lines, run

pytestmark = pytest.mark.slow


def _settings(corpus):
  return f"--problem_settings=train_manifest={corpus['train']},dev_manifest={corpus['dev']}"


@pytest.fixture(scope="module")
def trained(speech_run):
  """The shared speech run (tests/bin/conftest.py: deep_speech2_tiny, SPEECH_STEPS)."""
  # The trainer's own evaluation reports WER and CER on the dev split.
  assert f"eval at step {SPEECH_STEPS} (dev, 40 examples): ctc_loss" in speech_run["log"]
  assert " wer " in speech_run["log"] and " cer " in speech_run["log"]
  return speech_run


def test_trains_to_low_cer_on_held_out_utterances(trained):
  # One WAV path per line (relative to the list's folder) -> one transcript per line.
  corpus_dir = os.path.dirname(trained["corpus"]["dev"])
  rows = [line.rstrip("\n").split("\t") for line in open(trained["corpus"]["dev"])]
  listing = os.path.join(corpus_dir, "dev_wavs.txt")
  with open(listing, "w") as f:
    f.writelines(wav + "\n" for wav, _ in rows)
  out = os.path.join(trained["root"], "transcripts.txt")
  run("t2t-decoder", f"--output_dir={trained['output_dir']}", f"--decode_from_file={listing}",
      f"--decode_to_file={out}", "--decode_hparams=beam_size=4")
  hypotheses = open(out).read().splitlines()
  assert len(hypotheses) == len(rows)
  rates = speech_metrics.error_rates(hypotheses, [text for _, text in rows])
  print(f"held-out CER {rates['cer']:.4f} WER {rates['wer']:.4f}; "
        f"{time.time() - trained['start']:.0f}s since the corpus was written")
  assert rates["cer"] <= 0.2


def test_decoder_names_a_bad_audio_file(trained, tmp_path):
  listing = tmp_path / "list.txt"
  (tmp_path / "notes.wav").write_text("not audio")
  listing.write_text("notes.wav\n")
  proc = run("t2t-decoder", f"--output_dir={trained['output_dir']}",
             f"--decode_from_file={listing}", check=False)
  assert proc.returncode == 2
  assert error_lines(proc.stderr) == [
      f"t2t-decoder: error: audio file {tmp_path / 'notes.wav'} is not a readable WAV file "
      "(file does not start with RIFF id); convert it to 16-bit PCM WAV, e.g. sox IN -b 16 "
      "-r 16000 OUT.wav"]


def test_datagen_names_a_wav_with_another_sample_rate(tmp_path):
  import numpy as np

  from t2t_lite.data import audio
  audio.write_wav(str(tmp_path / "a.wav"), np.zeros(1600, np.int16), sample_rate=8000)
  (tmp_path / "train.tsv").write_text("a.wav\tab\n")
  corpus = {"train": str(tmp_path / "train.tsv"), "dev": str(tmp_path / "train.tsv")}
  proc = run("t2t-datagen", "--problem=speech_manifest", f"--data_dir={tmp_path / 'data'}",
             _settings(corpus), check=False)
  assert proc.returncode == 2
  assert error_lines(proc.stderr) == [
      f"t2t-datagen: error: audio file {tmp_path / 'a.wav'} is sampled at 8000 Hz, not "
      f"16000 Hz; resample it, e.g. sox IN -r 16000 OUT.wav (manifest {corpus['train']} "
      "line 1)"]


def test_exported_model_transcribes_wav_bytes_like_the_decoder(speech_outputs):
  import numpy as np

  from t2t_lite.data import audio
  from tests.bin.helpers import load_export
  export_dir = speech_outputs["export_dir"]
  wavs, decoded = speech_outputs["wavs"][:6], speech_outputs["decoded"][:6]
  waves = [audio.read_wav(w) for w in wavs]
  width = max(len(w) for w in waves)
  padded = [np.pad(w / 32768.0, (0, width - len(w))).tolist() for w in waves]
  served = load_export(export_dir, "waveform",
                       {"waveform": padded, "length": [len(w) for w in waves]})
  assert served["outputs"] == decoded
  served = load_export(export_dir, "serving_default", {"wav": {"files": wavs}})
  assert served["outputs"] == decoded


def test_word_timestamps_find_the_words_in_the_audio_and_match_the_export(trained, tmp_path):
  """Utterances with 250 ms silences around the space between words: each word's start
  and end (its first and last tone) must be found within one output frame (20 ms for
  deep_speech2_tiny's stride 2) plus 50 ms, by the decoder and in the exported model."""
  import json

  import numpy as np

  from t2t_lite.data import audio
  from tests.bin.helpers import load_export
  rng = np.random.default_rng(11)
  # Words without a doubled letter: 300 steps do not learn those reliably, and a word
  # spelled wrong is still timed, but its letters must be the word's.
  vocabulary = [w for w in speech_data.word_list(40, seed=3)
                if all(a != b for a, b in zip(w, w[1:]))][:12]
  truth, wavs = [], []
  for i in range(8):
    text = " ".join(vocabulary[int(j)] for j in rng.integers(12, size=int(rng.integers(2, 4))))
    times = []
    path = str(tmp_path / f"timed_{i}.wav")
    audio.write_wav(path, speech_data.synthesize(text, rng, word_gap=0.25, word_times=times))
    truth.append((text, times))
    wavs.append(path)
  listing = tmp_path / "timed.txt"
  listing.write_text("".join(w + "\n" for w in wavs))
  out = tmp_path / "timed.out"
  run("t2t-decoder", f"--output_dir={trained['output_dir']}", f"--decode_from_file={listing}",
      f"--decode_to_file={out}", "--decode_hparams=beam_size=1,word_timestamps=true")
  timed = [json.loads(line) for line in open(f"{out}.words.jsonl")]
  assert [t["transcript"] for t in timed] == out.read_text().splitlines()
  tolerance = 0.02 + 0.05
  timed_words = 0
  for (text, times), result in zip(truth, timed):
    words = result["words"]
    assert " ".join(w["word"] for w in words) == result["transcript"]
    if len(words) != len(times):
      continue  # a word lost or split has no true time
    timed_words += len(words)
    for (start, end), word in zip(times, words):
      assert abs(word["start"] - start) <= tolerance, (text, times, words)
      assert abs(word["end"] - end) <= tolerance, (text, times, words)
  assert timed_words >= sum(len(times) for _, times in truth) * 3 // 4
  export_dir = str(tmp_path / "export")
  run("t2t-exporter", f"--output_dir={trained['output_dir']}", f"--export_dir={export_dir}",
      "--decode_hparams=beam_size=1,word_timestamps=true")
  served = load_export(export_dir, "serving_default", {"wav": {"files": wavs}})
  assert served["outputs"] == [t["transcript"] for t in timed]
  for row, result in enumerate(timed):
    starts = [s for s in served["word_start_seconds"][row] if s >= 0]
    ends = [e for e in served["word_end_seconds"][row] if e >= 0]
    assert np.allclose(starts, [w["start"] for w in result["words"]], atol=1e-4)
    assert np.allclose(ends, [w["end"] for w in result["words"]], atol=1e-4)


def test_export_refuses_word_timestamps_with_beam_search(trained, tmp_path):
  proc = run("t2t-exporter", f"--output_dir={trained['output_dir']}",
             f"--export_dir={tmp_path / 'export'}",
             "--decode_hparams=beam_size=4,word_timestamps=true", check=False)
  assert proc.returncode == 2
  assert error_lines(proc.stderr) == [
      "t2t-exporter: error: word timestamps in an export come from the greedy CTC "
      "alignment; export with --decode_hparams=beam_size=1,word_timestamps=true"]
