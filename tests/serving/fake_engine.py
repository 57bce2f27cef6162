"""A stand-in engine for t2t-serve's tests: text items are upper-cased, word by word."""
from t2t_lite.serving import engine


class UpperEngine(engine.Engine):
  """Text: decodes a sentence to itself upper-cased, n_best up to 2 (the second
  lower-cased); 'bad' is a BadInput, a sentence of over 5 words TooLarge."""

  kind = "text"
  max_n_best = 2

  def prepare(self, item):
    if item == "bad":
      raise engine.BadInput("cannot take 'bad'")
    words = item.split()
    if len(words) > 5:
      raise engine.TooLarge(f"{len(words)} words")
    return item, len(words)

  def decode(self, payloads, n_best=1):
    return [engine.Result(engine.Hypothesis(p.upper(), -1.0),
                          (engine.Hypothesis(p.upper(), -1.0),
                           engine.Hypothesis(p.lower(), -2.0)),
                          output_tokens=len(p.split()))
            for p in payloads]

  def warmup_item(self):
    return "warm up"
