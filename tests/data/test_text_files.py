"""Corpus files: lines numbered, errors naming the file and line."""
import pytest

from t2t_lite.data import text_files
from t2t_lite.errors import UserError


def test_numbered_lines_and_their_errors(tmp_path):
  good = tmp_path / "good.txt"
  good.write_text("one\ntwo\r\n")
  assert list(text_files.numbered_lines(str(good), "--x")) == [(1, "one"), (2, "two")]
  bad = tmp_path / "bad.txt"
  bad.write_bytes(b"ok\n\xff\n")
  with pytest.raises(UserError, match="bad.txt line 2 is not UTF-8"):
    list(text_files.numbered_lines(str(bad), "--x"))
  with pytest.raises(UserError, match="--x=.*missing.txt does not exist"):
    list(text_files.numbered_lines(str(tmp_path / "missing.txt"), "--x"))


def test_tsv_pairs_need_exactly_one_tab(tmp_path):
  tsv = tmp_path / "pairs.tsv"
  tsv.write_text("a b\tc d\n")
  assert list(text_files.read_tsv_pairs(str(tsv), "train_tsv")) == [("a b", "c d")]
  tsv.write_text("a b\tc\td\n")
  with pytest.raises(UserError, match="line 1 has more than one TAB"):
    list(text_files.read_tsv_pairs(str(tsv), "train_tsv"))
