"""The Markdown of the generated pages: values as inline code, cells on one line, bounds as
a user reads them, tables."""
from t2t_lite.hparams_lib import Bounds
from t2t_lite.reference import markdown


def test_values_cells_and_tables():
  assert [markdown.code(v) for v in (None, 0.5, 1e-09, True, "", "a|b", 3)] == [
      "—", "`0.5`", "`1e-09`", "`true`", '`""`', "`a\\|b`", "`3`"]
  assert markdown.cell("two\n  lines | pipe") == "two lines \\| pipe"
  assert markdown.table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |"


def test_bounds():
  assert markdown.bounds(Bounds()) == ""
  assert markdown.bounds(Bounds(minimum=1)) == ">= 1"
  assert markdown.bounds(Bounds(minimum=0, below=1)) == ">= 0, < 1"
  assert markdown.bounds(Bounds(above=0.5, maximum=2, also=(-1,))) == "> 0.5, <= 2 or -1"
  assert markdown.bounds(Bounds(choices=("a", "b"))) == "`a`, `b`"
