"""Closest-name suggestions: a few close names, never the whole list."""
from t2t_lite.errors import closest, suggestion


def test_closest_names():
  names = ["transformer_tiny", "transformer_small", "transformer_base", "deep_speech2_tiny"]
  assert closest("transformer_tinny", names)[0] == "transformer_tiny"
  assert len(closest("transformer", names)) <= 3
  assert closest("zzz", names) == []
  assert suggestion("zzz", names) == ""
  assert suggestion("transfomer_base", names).startswith("; did you mean transformer_base")


def test_substrings_are_a_fallback():
  assert closest("speech", ["deep_speech2_tiny", "other"]) == ["deep_speech2_tiny"]
