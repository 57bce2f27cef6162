"""Text problems end to end through the binaries: your own parallel files to reportable
BLEU, and a language model over your own text files that continues prompts."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.bin.helpers import FAST, load_export, run, write_lines
from tests.problems.synthetic_language import corpus

# (The `translation` run is a fixture of tests/bin/conftest.py, shared with test_serving.)


@pytest.mark.slow
def test_parallel_files_to_bleu_above_80_on_held_out_pairs(translation, tmp_path):
  assert "bleu: sacrebleu on the first 20 dev examples" in translation["log"]
  assert "  bleu " in translation["log"].splitlines()[-1]
  hyp = str(tmp_path / "test.hyp")
  run("t2t-decoder", f"--output_dir={translation['out']}",
      f"--decode_from_file={translation['test_src']}", f"--decode_to_file={hyp}",
      "--decode_hparams=beam_size=4")
  proc = run("t2t-bleu", f"--translation={hyp}", f"--reference={translation['test_ref']}",
             "--json")
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert result["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
  assert result["sentences"] == 300
  assert result["bleu"] >= 80.0, result


@pytest.mark.slow
def test_averaged_checkpoints_decode_and_export_like_the_decoder(translation, tmp_path):
  out, tmp = translation["out"], tmp_path
  run("t2t-avg-checkpoints", f"--output_dir={out}", "--n=2")
  averaged = os.path.join(out, "averaged")
  names = ("model.ckpt-500", "model.ckpt-1000")
  readers = [tf.train.load_checkpoint(os.path.join(d, n))
             for d, n in ((out, names[0]), (out, names[1]), (averaged, names[1]))]
  weights = [k for k in readers[2].get_variable_to_shape_map() if k.startswith("model/")]
  assert len(weights) > 10
  for key in weights:
    np.testing.assert_allclose(readers[2].get_tensor(key),
                               (readers[0].get_tensor(key) + readers[1].get_tensor(key)) / 2,
                               rtol=1e-6, atol=1e-7)
  sources = write_lines(tmp / "some.src",
                        open(translation["test_src"]).read().splitlines()[:8])
  decoded = str(tmp / "some.hyp")
  run("t2t-decoder", f"--output_dir={averaged}", f"--decode_from_file={sources}",
      f"--decode_to_file={decoded}", "--decode_hparams=beam_size=2")
  export_dir = str(tmp / "export")
  run("t2t-exporter", f"--output_dir={averaged}", f"--export_dir={export_dir}",
      "--decode_hparams=beam_size=2")
  # A sentencepiece vocabulary needs tensorflow_text's ops, and nothing of t2t_lite.
  served = load_export(export_dir, "serving_default",
                       {"inputs": open(sources).read().splitlines()}, "tensorflow_text")
  assert served["outputs"] == open(decoded).read().splitlines()


@pytest.mark.slow
def test_language_model_from_text_files_continues_prompts_and_samples(tmp_path):
  texts = [f"{s} ." for s, _ in corpus(2000, seed=2)]
  (tmp_path / "text").mkdir()
  write_lines(tmp_path / "text" / "a.txt", texts[:1000])
  # Blank lines are no examples.
  write_lines(tmp_path / "text" / "b.txt", [""] + texts[1000:])
  data, out = str(tmp_path / "data"), str(tmp_path / "run")
  run("t2t-trainer", "--generate_data", "--problem=languagemodel_from_files",
      f"--data_dir={data}", f"--problem_settings=train_files={tmp_path}/text/*.txt,"
      "vocab_type=character", "--model=transformer", "--hparams_set=transformer_tiny",
      f"--output_dir={out}", "--train_steps=300", "--local_eval_frequency=300",
      f"--hparams={FAST},packed_length=256", timeout=900)
  hparams = json.loads((tmp_path / "run" / "hparams.json").read_text())
  assert hparams["has_inputs"] is False and hparams["packed_length"] == 256
  prompts = write_lines(tmp_path / "prompts.txt", ["the big cat", "a ", ""])

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

  # Exported with a character vocabulary, the model needs TensorFlow only: it loads
  # without t2t_lite and runs under saved_model_cli.
  export_dir = str(tmp_path / "export")
  run("t2t-exporter", f"--output_dir={out}", f"--export_dir={export_dir}",
      "--decode_hparams=beam_size=1")
  served = load_export(export_dir, "serving_default",
                       {"inputs": ["the big cat", "a ", ""]})
  assert served["outputs"] == greedy
  cli = subprocess.run(
      [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "run", "--dir",
       export_dir, "--tag_set", "serve",
       "--signature_def", "serving_default", "--input_exprs", 'inputs=["the big cat"]'],
      capture_output=True, text=True, timeout=300)
  assert cli.returncode == 0, cli.stderr
  assert repr(greedy[0].encode())[2:-1] in cli.stdout


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
