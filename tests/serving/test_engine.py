"""The engine contract t2t-serve decodes through: results, and what an engine declares."""
import dataclasses

import pytest

from t2t_lite.serving import engine


class _Upper(engine.Engine):
  kind = "text"

  def prepare(self, item):
    if not item:
      raise engine.BadInput("empty")
    return item.upper(), len(item.split())

  def decode(self, payloads, n_best=1):
    return [engine.Result(engine.Hypothesis(p, -1.0), output_tokens=len(p.split()))
            for p in payloads]

  def warmup_item(self):
    return "warm up"


def test_an_engine_implements_the_contract():
  e = _Upper()
  assert (e.max_n_best, e.has_scores, e.length_unit) == (1, True, "tokens")
  payload, length = e.prepare("a b c")
  assert (payload, length) == ("A B C", 3)
  (result,) = e.decode([payload])
  assert result == engine.Result(engine.Hypothesis("A B C", -1.0), (), 3)
  with pytest.raises(engine.BadInput, match="empty"):
    e.prepare("")
  assert issubclass(engine.BadInput, ValueError) and issubclass(engine.TooLarge, ValueError)
  with pytest.raises(dataclasses.FrozenInstanceError):
    result.output_tokens = 4
  with pytest.raises(TypeError):
    engine.Engine()  # abstract
