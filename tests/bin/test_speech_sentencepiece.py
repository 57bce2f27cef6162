"""SentencePiece output units with CTC, end to end through the binaries: the tone-speech
corpus of sentences of a 40-word vocabulary, t2t-datagen with vocab=sentencepiece (CTC
over pieces), deep_speech2_tiny, then t2t-decoder with the word n-gram LM (words from the
pieces' U+2581 marker) and with word timestamps."""
import json
import os
import re

import pytest

from t2t_lite import speech_metrics
from tests.bin.helpers import run

pytestmark = pytest.mark.slow
STEPS = "250"


@pytest.fixture(scope="module")
def trained(speech_run, tmp_path_factory):
  """The shared speech run's corpus (tests/bin/conftest.py), its data made with pieces."""
  root = str(tmp_path_factory.mktemp("speech_sp"))
  corpus = speech_run["corpus"]
  data_dir, output_dir = os.path.join(root, "data"), os.path.join(root, "run")
  proc = run("t2t-datagen", "--problem=speech_manifest", f"--data_dir={data_dir}",
             f"--problem_settings=train_manifest={corpus['train']},"
             f"dev_manifest={corpus['dev']},vocab=sentencepiece,sentencepiece_vocab_size=40")
  assert "wrote a 3-gram language model" in proc.stdout
  assert os.path.exists(os.path.join(data_dir, "vocab.speech_manifest.sentencepiece.model"))
  proc = run("t2t-trainer", "--problem=speech_manifest", "--model=deep_speech2",
             "--hparams_set=deep_speech2_tiny", f"--data_dir={data_dir}",
             f"--output_dir={output_dir}", f"--train_steps={STEPS}",
             f"--local_eval_frequency={STEPS}", "--eval_steps=0")
  assert " wer " in proc.stdout and " cer " in proc.stdout
  with open(os.path.join(output_dir, "hparams.json")) as f:
    vocab_size = json.load(f)["target_vocab_size"]
  corpus_dir = os.path.dirname(corpus["dev"])
  rows = [line.rstrip("\n").split("\t") for line in open(corpus["dev"])]
  listing = os.path.join(root, "dev.txt")
  with open(listing, "w") as f:
    f.writelines(os.path.join(corpus_dir, wav) + "\n" for wav, _ in rows)
  return {"root": root, "run": output_dir, "listing": listing, "vocab_size": vocab_size,
          "references": [text for _, text in rows],
          "lm": os.path.join(data_dir, "speech_manifest.lm.arpa")}


def _decode(trained, tmp_path, decode_hparams):
  out = tmp_path / "out.txt"
  run("t2t-decoder", f"--output_dir={trained['run']}", f"--decode_from_file={trained['listing']}",
      f"--decode_to_file={out}", f"--decode_hparams={decode_hparams}")
  return out.read_text().splitlines()


def test_ctc_over_pieces_decodes_with_the_word_lm(trained, tmp_path):
  assert trained["vocab_size"] > 30  # pieces beyond single characters
  lm = trained["lm"]
  plain = _decode(trained, tmp_path, "beam_size=8")
  assert _decode(trained, tmp_path, f"beam_size=8,lm_path={lm},lm_weight=0,word_bonus=0") \
      == plain
  proc = run("t2t-decoder", f"--output_dir={trained['run']}", "--tune_lm",
             f"--decode_hparams=beam_size=8,num_samples=20,lm_path={lm}")
  best = re.search(r"lm_weight=([0-9.]+),word_bonus=(-?[0-9.]+)", proc.stdout)
  assert best, proc.stdout
  fused = _decode(trained, tmp_path, f"beam_size=8,lm_path={lm},lm_weight={best.group(1)},"
                  f"word_bonus={best.group(2)}")
  without, with_lm = (speech_metrics.error_rates(h, trained["references"])
                      for h in (plain, fused))
  print(f"sentencepiece units, dev WER without LM {without['wer']:.4f} (CER "
        f"{without['cer']:.4f}), with the LM {with_lm['wer']:.4f} (CER {with_lm['cer']:.4f})")
  assert with_lm["wer"] <= without["wer"]
  # The LM only knows the corpus's words: with it, the transcripts hold more of them.
  known = set(" ".join(trained["references"]).split())

  def known_fraction(texts):
    words = " ".join(texts).split()
    return sum(w in known for w in words) / max(len(words), 1)
  assert known_fraction(fused) >= known_fraction(plain)


def test_word_timestamps_with_pieces(trained, tmp_path):
  texts = _decode(trained, tmp_path, "beam_size=4,word_timestamps=true")
  timed = [json.loads(line) for line in open(tmp_path / "out.txt.words.jsonl")]
  assert [t["transcript"] for t in timed] == texts
  for t in timed:
    assert [w["word"] for w in t["words"]] == t["transcript"].split()
    times = [x for w in t["words"] for x in (w["start"], w["end"])]
    assert times == sorted(times)
  # A split's decode logs each utterance's timed words after its transcript.
  proc = run("t2t-decoder", f"--output_dir={trained['run']}",
             "--decode_hparams=beam_size=1,num_samples=3,word_timestamps=true")
  lines = proc.stdout.splitlines()
  outputs = [i for i, line in enumerate(lines) if line.startswith("OUTPUT: ")]
  assert len(outputs) == 3
  for i in outputs:
    words = json.loads(lines[i + 1][len("WORDS: "):])
    assert [w["word"] for w in words] == lines[i][len("OUTPUT: "):].split()
