"""bench/quality_compare.py's bookkeeping, without any toolkit: results rows, the equal
wall-clock reading, the markdown table, the plot (bench/comparison.py, which it shares with
speech_compare.py), and the eole config's shared sizes."""
import argparse
import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _module():
  spec = importlib.util.spec_from_file_location(
      "quality_compare", os.path.join(ROOT, "bench", "quality_compare.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


SIG = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:x"


def _rows():
  rows = [dict(toolkit="a", kind="params", step=0, params=1000),
          dict(toolkit="b", kind="params", step=0, params=1010)]
  for toolkit, seconds in (("a", (10, 20, 30)), ("b", (40, 80, 120))):
    for step, s, score in zip((100, 200, 300), seconds, (5.0, 10.0, 15.0)):
      rows.append(dict(toolkit=toolkit, kind="dev", step=step, seconds=s, bleu=score,
                       length_ratio=0.9, signature=SIG))
    rows.append(dict(toolkit=toolkit, kind="test", step=300, seconds=seconds[-1], bleu=14.0,
                     length_ratio=0.95, signature=SIG))
  rows.append(dict(toolkit="a", kind="test", step=200, seconds=20, bleu=9.0, length_ratio=0.8,
                   signature=SIG))  # a test at an earlier step too (--steps=200 rerun)
  return rows


def test_rows_round_trip_and_done(tmp_path):
  shared = _module().comparison
  path = str(tmp_path / "results.jsonl")
  assert shared.load_rows(path) == []
  for row in _rows():
    shared.append_row(path, row)
  rows = shared.load_rows(path)
  assert rows == _rows()
  assert shared.done(rows, "a", "test", 300) and not shared.done(rows, "a", "test", 400)
  assert shared.done(rows, "b", "params", 0)


def test_equal_wall_clock_reads_the_last_checkpoint_within_the_shortest_run():
  qc = _module()
  # Rows arrive in any order; the shortest run (a, 30 s) is the budget.
  table, budget = qc.comparison.summarize(list(reversed(_rows())))
  assert budget == 30
  assert table["a"]["at_budget"]["step"] == 300
  assert table["b"]["at_budget"] is None  # b's first checkpoint came at 40 s
  assert [r["step"] for r in table["b"]["dev"]] == [100, 200, 300]
  assert table["b"]["params"] == 1010 and table["b"]["test"][300]["bleu"] == 14.0
  text = qc.comparison.markdown(table, budget, qc.COLUMNS, qc.signatures(table))
  assert "| a | 1000 | 300 | 30 | 15.00 | 0.900 | 14.00 | 0.950 |" in text
  assert "| a | 1000 | 100 | 10 | 5.00 | 0.900 |  |  |" in text
  assert "| a | 1000 | 200 | 20 | 10.00 | 0.900 | 9.00 | 0.800 |" in text
  assert "- a: step 300 (30 s), dev BLEU 15.00" in text
  assert "- b: no checkpoint yet" in text
  assert "sacrebleu: " + SIG in text


def test_report_writes_table_and_plot(tmp_path, capsys):
  qc = _module()
  for row in _rows():
    qc.comparison.append_row(str(tmp_path / "results.jsonl"), row)
  assert qc.main(["--work", str(tmp_path), "--report_only"]) == 0
  assert (tmp_path / "results.md").read_text() in capsys.readouterr().out
  with open(tmp_path / "quality.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_bleu_is_sacrebleus_with_its_length_ratio():
  qc = _module()
  score, signature, ratio = qc.bleu(["the cat sat on the mat"], ["the cat sat on the mat"])
  assert round(score, 6) == 100 and ratio == 1.0 and signature.startswith("nrefs:1|")
  _, _, ratio = qc.bleu(["the cat"], ["the cat sat on the mat"])
  assert abs(ratio - 2 / 6) < 1e-9


def test_eole_config_has_the_shared_size_and_budget(tmp_path):
  qc = _module()
  args = argparse.Namespace(work=str(tmp_path), seed=7, src="en", tgt="fr", eval_every=50,
                            steps=200, batch_tokens=1024, warmup=40, hidden=128, layers=3,
                            heads=4, ff=512)

  class Pieces:  # the sentencepiece model's only method the config reads
    def get_piece_size(self):
      return 500

  eole = qc.Eole(args, "data", "sp.model", Pieces(), str(tmp_path / "pieces"))
  import yaml
  config = yaml.safe_load(eole.config())
  assert config["model"]["layers"] == 3 and config["model"]["hidden_size"] == 128
  assert config["model"]["transformer_ff"] == 512 and config["model"]["heads"] == 4
  assert config["model"]["share_embeddings"] and config["model"]["share_decoder_embeddings"]
  training = config["training"]
  assert (training["batch_size"], training["train_steps"], training["warmup_steps"],
          training["save_checkpoint_steps"]) == (1024, 200, 40, 50)
  assert config["src_vocab_size"] == 500 and json.dumps(config)  # plain data


def test_unknown_toolkit_is_refused(tmp_path, capsys):
  qc = _module()
  with pytest.raises(SystemExit) as exit_info:
    qc.main(["--work", str(tmp_path), "--corpus", str(tmp_path), "--toolkits", "t2t_lite,x"])
  assert exit_info.value.code == 2
  assert "unknown toolkit(s) ['x']" in capsys.readouterr().err


def test_dev_sample_is_spread_over_the_sorted_split():
  qc = _module()
  lines = [str(i) for i in range(10)]
  assert qc.spread(lines, 3) == ["0", "3", "6"]
  assert qc.spread(lines, 0) == lines and qc.spread(lines, 20) == lines


def test_missing_peer_python_is_one_error_line(tmp_path, capsys):
  qc = _module()
  with pytest.raises(SystemExit) as exit_info:
    qc.main(["--work", str(tmp_path), "--corpus", str(tmp_path), "--toolkits", "eole",
             "--eole_python", str(tmp_path / "none" / "python")])
  assert exit_info.value.code == 2
  assert "--eole_python=" in capsys.readouterr().err
