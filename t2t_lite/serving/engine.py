"""What t2t-serve asks of an inference engine: turn one request item into a payload and
its length (in the event loop, cheap), and decode a batch of payloads (in the one decoding
thread). Engines: saved_model_engine.py (TensorFlow, text and speech) and
ctranslate2_engine.py (CTranslate2, text)."""
import abc
import dataclasses


class BadInput(ValueError):
  """A request item the engine cannot take (HTTP 400), with the reason as its message."""


class TooLarge(ValueError):
  """A request item over a limit (HTTP 413)."""


@dataclasses.dataclass(frozen=True)
class Hypothesis:
  text: str
  score: float | None = None


@dataclasses.dataclass(frozen=True)
class Result:
  """The best output of one item, and its n-best list when one was asked for."""
  best: Hypothesis
  n_best: tuple[Hypothesis, ...] = ()
  output_tokens: int = 0  # of the best output, for the tokens/s metric


class Engine(abc.ABC):
  """A loaded export. `kind` is "text" (items are strings) or "speech" (items are WAV
  files' bytes); `max_n_best` is how many hypotheses per item it can return."""

  kind: str
  max_n_best: int = 1
  has_scores: bool = True
  # What a payload's length counts, for --max_batch_tokens and the metrics.
  length_unit: str = "tokens"

  @abc.abstractmethod
  def prepare(self, item):
    """(payload, length) of one request item; BadInput or TooLarge if it cannot be
    decoded."""

  @abc.abstractmethod
  def decode(self, payloads, n_best=1):
    """[Result] for the payloads, in their order. Runs in the decoding thread."""

  @abc.abstractmethod
  def warmup_item(self):
    """A request item to decode once before the server reports itself ready."""
