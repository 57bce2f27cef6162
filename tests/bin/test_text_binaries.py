"""Text problems end to end through the binaries: your own parallel files to reportable
BLEU, and a language model over your own text files that continues prompts."""
import json

import pytest

from tests.bin.helpers import run
from tests.problems.synthetic_language import corpus

# Without dropout and with a short warmup, transformer_tiny learns the synthetic language
# within ~1000 steps of 1024 tokens.
FAST = ("batch_size=1024,learning_rate_warmup_steps=200,layer_prepostprocess_dropout=0,"
        "attention_dropout=0,relu_dropout=0")


def _lines(path, lines):
  path.write_text("".join(line + "\n" for line in lines))
  return str(path)


@pytest.mark.slow
def test_parallel_files_to_bleu_above_80_on_held_out_pairs(tmp_path):
  pairs = corpus(3300, seed=0)
  train, test = pairs[:3000], pairs[3000:]
  src = _lines(tmp_path / "train.src", [s for s, _ in train])
  tgt = _lines(tmp_path / "train.tgt", [t for _, t in train])
  test_src = _lines(tmp_path / "test.src", [s for s, _ in test])
  test_ref = _lines(tmp_path / "test.ref", [t for _, t in test])
  data, out = str(tmp_path / "data"), str(tmp_path / "run")
  run("t2t-datagen", "--problem=translate_from_files", f"--data_dir={data}",
      f"--problem_settings=train_source={src},train_target={tgt},approx_vocab_size=200")
  proc = run("t2t-trainer", "--problem=translate_from_files", f"--data_dir={data}",
             "--model=transformer", "--hparams_set=transformer_tiny", f"--output_dir={out}",
             "--train_steps=1000", "--local_eval_frequency=1000", "--eval_decode_samples=20",
             f"--hparams={FAST}", timeout=900)
  assert "bleu: sacrebleu on the first 20 dev examples" in proc.stdout
  assert "  bleu " in proc.stdout.splitlines()[-1]
  hyp = str(tmp_path / "test.hyp")
  run("t2t-decoder", f"--output_dir={out}", f"--decode_from_file={test_src}",
      f"--decode_to_file={hyp}", "--decode_hparams=beam_size=4")
  proc = run("t2t-bleu", f"--translation={hyp}", f"--reference={test_ref}", "--json")
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert result["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
  assert result["sentences"] == 300
  assert result["bleu"] >= 80.0, result


@pytest.mark.slow
def test_language_model_from_text_files_continues_prompts_and_samples(tmp_path):
  texts = [f"{s} ." for s, _ in corpus(2000, seed=2)]
  (tmp_path / "text").mkdir()
  _lines(tmp_path / "text" / "a.txt", texts[:1000])
  _lines(tmp_path / "text" / "b.txt", [""] + texts[1000:])  # blank lines are no examples
  data, out = str(tmp_path / "data"), str(tmp_path / "run")
  run("t2t-trainer", "--generate_data", "--problem=languagemodel_from_files",
      f"--data_dir={data}", f"--problem_settings=train_files={tmp_path}/text/*.txt,"
      "vocab_type=character", "--model=transformer", "--hparams_set=transformer_tiny",
      f"--output_dir={out}", "--train_steps=300", "--local_eval_frequency=300",
      f"--hparams={FAST},packed_length=256", timeout=900)
  hparams = json.loads((tmp_path / "run" / "hparams.json").read_text())
  assert hparams["has_inputs"] is False and hparams["packed_length"] == 256
  prompts = _lines(tmp_path / "prompts.txt", ["the big cat", "a ", ""])

  def decode(dhp):
    path = tmp_path / "out.txt"
    run("t2t-decoder", f"--output_dir={out}", f"--decode_from_file={prompts}",
        f"--decode_to_file={path}", f"--decode_hparams={dhp}")
    return path.read_text().splitlines()

  greedy = decode("beam_size=1")
  assert len(greedy) == 3 and greedy[0].startswith("the big cat")
  assert greedy[1].startswith("a ") and greedy[2]
  sampled = decode("beam_size=1,sampling_method=random,sampling_temp=1.0,sampling_seed=7")
  assert sampled == decode("beam_size=1,sampling_method=random,sampling_temp=1.0,"
                           "sampling_seed=7")
  assert decode("beam_size=1,sampling_method=random,sampling_keep_top_k=1") == greedy
  assert sampled[0].startswith("the big cat")


def test_bad_corpus_and_settings_fail_in_one_line(tmp_path):
  tsv = tmp_path / "train.tsv"
  tsv.write_bytes(b"a b\tc d\nonly source\n")
  data = str(tmp_path / "data")
  proc = run("t2t-datagen", "--problem=translate_from_files", f"--data_dir={data}",
             f"--problem_settings=train_tsv={tsv}", check=False)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1] == (
      f"t2t-datagen: error: {tsv} line 2 has no TAB between source and target")
  proc = run("t2t-datagen", "--problem=algorithmic_reverse_decimal40", f"--data_dir={data}",
             "--tfds_data_dir=/tmp", check=False)
  assert proc.returncode == 2 and "does not read TFDS data" in proc.stderr
  proc = run("t2t-bleu", f"--translation={tsv}", f"--reference={tmp_path}/none.txt",
             check=False)
  assert proc.returncode == 2 and "none.txt does not exist" in proc.stderr
