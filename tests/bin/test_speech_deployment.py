"""Speech as DeepSpeech2 deployed it, end to end through the binaries on the synthetic
tone-speech corpus (sentences of a 40-word vocabulary): a bidirectional and a streaming
model trained for the same steps; decoding with the word LM t2t-datagen estimated from
the training transcripts (--tune_lm, then the best settings against plain beam search);
the streaming SavedModel fed in chunks of 1 frame, 170 ms and 1 s; int8 and float16
SavedModel and TFLite exports against float32."""
import os
import re
import subprocess

import numpy as np
import pytest

from t2t_lite import speech_metrics
from t2t_lite.data import audio
from tests.bin.conftest import SPEECH_STEPS
from tests.bin.helpers import ENV, load_export, python_c_without_t2t_lite, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(speech_run, tmp_path_factory):
  """The bidirectional model is the shared speech run (tests/bin/conftest.py); the
  streaming one is trained here on its data for the same steps."""
  root = str(tmp_path_factory.mktemp("speech_deployment"))
  out = {"root": root, "corpus": speech_run["corpus"], "lm": speech_run["lm"],
         "bidirectional": speech_run["output_dir"], "streaming": os.path.join(root, "streaming")}
  out["bidirectional_cer"] = _dev_cer(speech_run["log"])
  proc = run("t2t-trainer", "--problem=speech_manifest", "--model=deep_speech2",
             "--hparams_set=deep_speech2_streaming_tiny", "--hparams=sortagrad_epochs=1",
             f"--data_dir={speech_run['data_dir']}", f"--output_dir={out['streaming']}",
             f"--train_steps={SPEECH_STEPS}", f"--local_eval_frequency={SPEECH_STEPS}",
             "--eval_steps=0")
  out["streaming_cer"] = _dev_cer(proc.stdout)
  print(f"dev CER after {SPEECH_STEPS} steps: bidirectional {out['bidirectional_cer']:.4f}, "
        f"streaming {out['streaming_cer']:.4f}")
  return out


def _dev_cer(log):
  return float(re.search(r" cer ([0-9.]+)", log).group(1))


def _dev(runs):
  corpus_dir = os.path.dirname(runs["corpus"]["dev"])
  rows = [line.rstrip("\n").split("\t") for line in open(runs["corpus"]["dev"])]
  return [os.path.join(corpus_dir, wav) for wav, _ in rows], [text for _, text in rows]


def test_streaming_model_is_within_0_05_cer_of_the_bidirectional_one(runs):
  assert runs["streaming_cer"] <= runs["bidirectional_cer"] + 0.05


def test_word_lm_lowers_wer_and_lm_weight_0_is_plain_beam_search(runs, tmp_path):
  wavs, references = _dev(runs)
  listing = tmp_path / "dev.txt"
  listing.write_text("".join(w + "\n" for w in wavs))

  def decode(decode_hparams):
    out = tmp_path / "out.txt"
    run("t2t-decoder", f"--output_dir={runs['bidirectional']}",
        f"--decode_from_file={listing}", f"--decode_to_file={out}",
        f"--decode_hparams={decode_hparams}")
    return out.read_text().splitlines()
  plain = decode("beam_size=8")
  assert decode(f"beam_size=8,lm_path={runs['lm']},lm_weight=0,word_bonus=0") == plain
  # Tuned on the dev split's first 20 utterances, measured on all 40.
  proc = run("t2t-decoder", f"--output_dir={runs['bidirectional']}", "--tune_lm",
             f"--decode_hparams=beam_size=8,num_samples=20,lm_path={runs['lm']}")
  best = re.search(r"lm_weight=([0-9.]+),word_bonus=(-?[0-9.]+)", proc.stdout)
  assert "lm_weight  word_bonus" in proc.stdout and best, proc.stdout
  fused = decode(f"beam_size=8,lm_path={runs['lm']},lm_weight={best.group(1)},"
                 f"word_bonus={best.group(2)}")
  without, with_lm = (speech_metrics.error_rates(h, references) for h in (plain, fused))
  print(f"dev WER without LM {without['wer']:.4f} (CER {without['cer']:.4f}), with the LM "
        f"(lm_weight={best.group(1)}, word_bonus={best.group(2)}) {with_lm['wer']:.4f} "
        f"(CER {with_lm['cer']:.4f})")
  assert with_lm["wer"] < without["wer"]


# Feeds an exported streaming model chunks of each size, in a process without t2t_lite.
_STREAM = """
import json, sys
import numpy as np
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
start, step = model.signatures["stream_start"], model.signatures["stream"]
waves = json.load(open(sys.argv[2]))
result = {}
for chunk in json.loads(sys.argv[3]):
  texts = []
  for wave in waves:
    wave = np.asarray(wave, np.float32)
    state = start()
    for begin in range(0, len(wave), chunk):
      out = step(audio=tf.constant(wave[begin:begin + chunk]),
                 final=tf.constant(begin + chunk >= len(wave)), **state)
      state = {k: v for k, v in out.items() if k.startswith("state_")}
    texts.append(out["transcript"].numpy().decode())
  result[chunk] = texts
print(json.dumps(result))
"""


def test_streaming_export_gives_the_whole_utterance_transcript_for_any_chunking(runs,
                                                                                tmp_path):
  import json
  export_dir = str(tmp_path / "stream_export")
  run("t2t-exporter", f"--output_dir={runs['streaming']}", f"--export_dir={export_dir}",
      "--decode_hparams=beam_size=1")
  wavs, _ = _dev(runs)
  waves = [(audio.read_wav(w) / 32768.0).tolist() for w in wavs[:6]]
  whole = load_export(export_dir, "waveform", {
      "waveform": [w + [0.0] * (max(map(len, waves)) - len(w)) for w in waves],
      "length": [len(w) for w in waves]})["outputs"]
  (tmp_path / "waves.json").write_text(json.dumps(waves))
  chunks = [160, 2720, 16000]  # one 10 ms frame, 170 ms, 1 s
  proc = subprocess.run(python_c_without_t2t_lite() + [_STREAM, export_dir,
                                                     str(tmp_path / "waves.json"),
                                                     json.dumps(chunks)],
                        capture_output=True, text=True, env=ENV, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  streamed = json.loads(proc.stdout.strip().splitlines()[-1])
  assert any(whole)
  for chunk in chunks:
    assert streamed[str(chunk)] == whole, chunk


def test_int8_and_float16_exports_keep_the_float32_cer(runs, tmp_path):
  from t2t_lite.serving import small_export
  wavs, references = _dev(runs)
  waves = [audio.read_wav(w) for w in wavs]
  width = max(len(w) for w in waves)
  padded = [np.pad(w / 32768.0, (0, width - len(w))).tolist() for w in waves]
  # float32: the trainer's own evaluation of the same checkpoint (CTC greedy, all 40).
  rates = {"float32": runs["bidirectional_cer"]}
  for dtype in ("float16", "int8"):
    export_dir = str(tmp_path / dtype)
    run("t2t-exporter", f"--output_dir={runs['bidirectional']}", f"--export_dir={export_dir}",
        f"--weights_dtype={dtype}", "--tflite", "--decode_hparams=beam_size=1")
    served = load_export(export_dir, "waveform",
                         {"waveform": padded, "length": [len(w) for w in waves]})
    rates[dtype] = speech_metrics.error_rates(served["outputs"], references)["cer"]
    import tensorflow as tf
    interpreter = tf.lite.Interpreter(model_path=f"{export_dir}/tflite/model.tflite")
    tokens = open(f"{export_dir}/tflite/tokens.txt").read().split("\n")
    texts = ["".join(tokens[i] for i in small_export.tflite_transcribe(interpreter, w / 32768.0))
             .strip() for w in waves]
    rates[f"tflite_{dtype}"] = speech_metrics.error_rates(texts, references)["cer"]
  print("dev CER by export:", {k: round(v, 4) for k, v in rates.items()})
  for name, cer in rates.items():
    assert abs(cer - rates["float32"]) <= 0.02, name
