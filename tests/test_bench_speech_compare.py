"""bench/speech_compare.py without the peer's virtualenv: the t2t_lite side end to end on
a tiny synthesized corpus, the files the peer reads, the scorer, the table and the plot."""
import csv
import importlib.util
import json
import os
import shutil

import pytest

from t2t_lite.data import audio

from . import speech_data
from .bin import helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _module():
  spec = importlib.util.spec_from_file_location(
      "speech_compare", os.path.join(ROOT, "bench", "speech_compare.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _corpus(folder, num_train=24, num_dev=6):
  speech_data.write_corpus(str(folder), num_train=num_train, num_dev=num_dev, seed=3)
  shutil.copy(folder / "dev.tsv", folder / "test.tsv")  # same folder: relative paths hold
  return folder


def test_scorer_normalizes_both_sides_as_t2t_lite_transcripts():
  sc = _module()
  assert sc.error_rates(["Hello, World!"], ["hello   world"]) == {"wer": 0.0, "cer": 0.0}
  rates = sc.error_rates(["helo world"], ["Hello world."])
  assert rates["wer"] == 0.5 and rates["cer"] == 1 / len("hello world")


def test_slice_and_peer_csv_read_the_same_files_with_t2t_lite_frames(tmp_path):
  sc = _module()
  corpus = _corpus(tmp_path / "corpus", num_train=5, num_dev=3)
  splits = sc.slice_manifests(str(corpus), str(tmp_path / "data"), 4)
  assert [len(splits[s]) for s in sc.SPLITS] == [4, 3, 3]
  with open(corpus / "train.tsv") as f:
    first = f.readline().rstrip("\n").split("\t")
  assert splits["train"][0] == (str(corpus / first[0]), first[1])
  sliced = (tmp_path / "data" / "train.tsv").read_text().splitlines()
  assert sliced[0] == f"{corpus / first[0]}\t{first[1]}" and len(sliced) == 4

  rows = [(wav, text.upper() + ", ok.") for wav, text in splits["train"]]
  sc.write_peer_csv(str(tmp_path / "train.csv"), rows)
  with open(tmp_path / "train.csv", newline="") as f:
    written = list(csv.DictReader(f))
  assert [r["ID"] for r in written] == ["utt000000", "utt000001", "utt000002", "utt000003"]
  for row, (wav, text) in zip(written, splits["train"]):
    assert row["wav"] == wav and row["wrd"] == text + " ok"
    # As many frames as t2t_lite's front end makes of the file.
    assert int(row["frames"]) == audio.log_mel(audio.read_wav(wav)).shape[0]


def _rows():
  rows = [dict(toolkit="t2t_lite", kind="params", step=0, params=4000),
          dict(toolkit="speechbrain", kind="params", step=0, params=3900)]
  for toolkit, seconds in (("t2t_lite", (10, 20)), ("speechbrain", (15, 30))):
    for step, s, cer in zip((100, 200), seconds, (0.5, 0.25)):
      rows.append(dict(toolkit=toolkit, kind="dev", step=step, seconds=s, cer=cer, wer=0.9))
    rows.append(dict(toolkit=toolkit, kind="test", step=200, seconds=seconds[-1], cer=0.3,
                     wer=0.8, beam_cer=0.28, beam_wer=0.75, beam=8))
  return rows


def test_report_has_a_row_per_toolkit_and_evaluation_and_the_plot(tmp_path, capsys):
  sc = _module()
  for row in _rows():
    sc.comparison.append_row(str(tmp_path / "results.jsonl"), row)
  assert sc.main(["--out", str(tmp_path), "--report_only"]) == 0
  text = (tmp_path / "results.md").read_text()
  assert text in capsys.readouterr().out
  assert "| t2t_lite | 4000 | 100 | 10 | 0.5000 | 0.9000 |  |  |  |  |" in text
  assert ("| t2t_lite | 4000 | 200 | 20 | 0.2500 | 0.9000 | 0.3000 | 0.8000 | 0.2800 | "
          "0.7500 |") in text
  assert "| speechbrain | 3900 | 200 | 30 | 0.2500 | 0.9000 | 0.3000 |" in text
  assert sum(line.startswith("| t2t_lite |") or line.startswith("| speechbrain |")
             for line in text.splitlines()) == 4
  # Equal wall-clock: t2t_lite's 20 s run is the budget; speechbrain had saved step 100.
  assert "- speechbrain: step 100 (15 s), dev CER 0.5000" in text
  assert "beam search at beam 8" in text
  with open(tmp_path / "speech.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("flags, message", [
    (["--toolkits", "t2t_lite,x"], "unknown toolkit(s) ['x']"),
    (["--toolkits", "speechbrain", "--sb_python", "/nonexistent/python"], "--sb_python="),
    (["--toolkits", "t2t_lite", "--steps", "5", "--eval_every", "2"],
     "must be a multiple of --eval_every"),
])
def test_bad_command_lines_are_one_error_line(tmp_path, capsys, flags, message):
  sc = _module()
  _corpus(tmp_path, num_train=1, num_dev=1)
  with pytest.raises(SystemExit) as exit_info:
    sc.main(["--out", str(tmp_path / "out"), "--corpus_dir", str(tmp_path)] + flags)
  assert exit_info.value.code == 2
  assert message in capsys.readouterr().err


def test_a_corpus_without_manifests_is_refused(tmp_path, capsys):
  with pytest.raises(SystemExit):
    _module().main(["--out", str(tmp_path / "out"), "--corpus_dir", str(tmp_path)])
  assert "has no train.tsv, dev.tsv, test.tsv" in capsys.readouterr().err


@pytest.mark.slow
def test_t2t_lite_side_end_to_end(tmp_path):
  sc = _module()
  corpus = _corpus(tmp_path / "corpus")
  out = tmp_path / "out"
  # --t2t_bin: the binaries, started through the tests' fork server (tests/forkserver.py).
  t2t_bin = os.path.dirname(helpers.launcher("t2t-trainer")[0])
  assert sc.main([f"--corpus_dir={corpus}", f"--out={out}", "--toolkits=t2t_lite",
                  "--hparams_set=deep_speech2_tiny", "--steps=2", "--eval_every=2",
                  "--beam=2", "--max_utterances=20", f"--t2t_bin={t2t_bin}"]) == 0
  rows = sc.comparison.load_rows(str(out / "results.jsonl"))
  assert [(r["kind"], r["step"]) for r in rows] == [("params", 0), ("dev", 2), ("test", 2)]
  info = json.loads((out / "t2t_model.json").read_text())
  # The table's count is the one the peer is sized against: the trainable weights.
  assert rows[0]["params"] == info["params"] > 0
  assert info["batch_frames"] == 2000 and info["bucket_frames"][-1] == 1000
  refs = {s: [line.split("\t")[1] for line in (out / "data" / f"{s}.tsv").read_text()
              .splitlines()] for s in ("dev", "test")}
  assert len(refs["dev"]) == 6 and len(refs["test"]) == 6
  for row, split, hyp in ((rows[1], "dev", "dev-model.ckpt-2-beam1.hyp"),
                          (rows[2], "test", "test-model.ckpt-2-beam1.hyp")):
    hyps = (out / "t2t_lite" / hyp).read_text().splitlines()
    assert len(hyps) == len(refs[split])
    assert {k: row[k] for k in ("wer", "cer")} == sc.error_rates(hyps, refs[split])
    hyp_chars = sum(len(h) for h in hyps)
    ref_chars = sum(len(r) for r in refs[split])
    assert 0.0 <= row["cer"] <= max(1.0, hyp_chars / ref_chars)  # edits <= the longer side
    assert row["seconds"] > 0
  assert rows[2]["beam"] == 2 and 0.0 <= rows[2]["beam_cer"]
  text = (out / "results.md").read_text()
  assert sum(line.startswith("| t2t_lite | ") for line in text.splitlines()) == 1
  assert (out / "speech.png").exists()
