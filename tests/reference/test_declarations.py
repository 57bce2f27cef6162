"""The declared option groups the reference documents, and one row per setting."""
from t2t_lite import options
from t2t_lite.options import setting
from t2t_lite.reference import declarations


@options.group("DeclarationsExample")
class _Example(options.Options):
  """An example."""
  steps: int = setting(5, "How many steps.", minimum=1)
  mode: str = setting("a", "A mode.", choices=("a", "b"))


@options.group("DeclarationsExampleSettings")
class _Settings(options.Options):
  field_flags = False
  width: int = setting(2, "Width.")


def test_groups_are_the_declared_ones_not_those_composed_of_them():
  composed = options.compose("DeclarationsComposed", _Example, _Settings)
  found = declarations.groups()
  assert _Example in found and _Settings in found
  assert composed not in found and options.HParamsGroup not in found


def test_rows_with_defaults_bounds_and_gin_bindings():
  assert declarations.rows(_Example, defaults={"steps": 9}) == [
      declarations.Row("steps", "int", 9, ">= 1", "How many steps.", False,
                       "DeclarationsExample.steps"),
      declarations.Row("mode", "str", "a", "`a`, `b`", "A mode.", False,
                       "DeclarationsExample.mode")]
  composed = options.compose("DeclarationsComposed", _Example, _Settings)
  assert [r.gin for r in declarations.rows(composed)] == [
      "DeclarationsExample.steps", "DeclarationsExample.mode",
      "DeclarationsExampleSettings.width"]
