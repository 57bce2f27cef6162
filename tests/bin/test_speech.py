"""Speech end to end through the binaries: a synthesized corpus of tone sequences that
spell words -> t2t-datagen -> t2t-trainer (deep_speech2_tiny) -> t2t-decoder on held-out
WAV files, which must transcribe with CER <= 0.2."""
import os
import time

import pytest

from t2t_lite import speech_metrics
from tests.bin.helpers import error_lines, run

pytestmark = pytest.mark.slow


def _settings(corpus):
  return f"--problem_settings=train_manifest={corpus['train']},dev_manifest={corpus['dev']}"


@pytest.fixture(scope="module")
def trained(speech_run):
  """The shared speech run (tests/bin/conftest.py: deep_speech2_tiny, 300 steps)."""
  # The trainer's own evaluation reports WER and CER on the dev split.
  assert "eval at step 300 (dev, 40 examples): ctc_loss" in speech_run["log"]
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


def test_exported_model_transcribes_wav_bytes_like_the_decoder(trained, tmp_path):
  import numpy as np

  from t2t_lite.data import audio
  from tests.bin.helpers import load_export
  corpus_dir = os.path.dirname(trained["corpus"]["dev"])
  rows = [line.rstrip("\n").split("\t") for line in open(trained["corpus"]["dev"])][:6]
  listing = tmp_path / "wavs.txt"
  listing.write_text("".join(os.path.join(corpus_dir, wav) + "\n" for wav, _ in rows))
  out = tmp_path / "decoded.txt"
  run("t2t-decoder", f"--output_dir={trained['output_dir']}", f"--decode_from_file={listing}",
      f"--decode_to_file={out}", "--decode_hparams=beam_size=1")
  export_dir = str(tmp_path / "export")
  run("t2t-exporter", f"--output_dir={trained['output_dir']}", f"--export_dir={export_dir}",
      "--decode_hparams=beam_size=1")
  waves = [audio.read_wav(os.path.join(corpus_dir, wav)) for wav, _ in rows]
  width = max(len(w) for w in waves)
  padded = [np.pad(w / 32768.0, (0, width - len(w))).tolist() for w in waves]
  served = load_export(export_dir, "waveform",
                       {"waveform": padded, "length": [len(w) for w in waves]})
  assert served["outputs"] == out.read_text().splitlines()
  wavs = [os.path.join(corpus_dir, wav) for wav, _ in rows]
  served = load_export(export_dir, "serving_default", {"wav": {"files": wavs}})
  assert served["outputs"] == out.read_text().splitlines()
