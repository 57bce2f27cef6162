"""What a model may have beyond T2TModel's core: one abstract class per capability.

A model inherits the capabilities it has (`class DeepSpeech2(T2TModel, Streaming,
CTCFrames, BenchmarkShapes)`); registering it records them, so `registry.models_with(
Streaming)` answers which models stream, and callers ask `isinstance(model, Streaming)`
rather than calling and catching NotImplementedError.

  IncrementalDecoding  a cached step function for greedy/beam search (else the search
                       reruns `call` on the prefix: same outputs, slower)
  Streaming            decoding input that arrives in chunks (t2t-serve's streams)
  CTCFrames            per-frame CTC log-probabilities, for decoders that search outside
                       the graph (a word LM) and word timestamps
  CTranslate2Export    the model as a CTranslate2 specification (t2t-exporter)
  BenchmarkShapes      what t2t-benchmark measures: its own synthetic batches, throughput
                       unit and FLOP formula; a model without it is measured as a token
                       model (these defaults) with no FLOP count
"""
import abc
import dataclasses
from typing import ClassVar

import numpy as np
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.data.text_encoder import EOS_ID
from t2t_lite.search import Search


@registry.capability
class IncrementalDecoding(abc.ABC):

  @abc.abstractmethod
  def decoding_fn(self, inputs, rows_per_example, max_length, use_cache=True,
                  batch_size=None):
    """(symbols_to_logits_fn, initial state) for search.py.

    Rows are batch-major: each example of `inputs` is repeated `rows_per_example` times
    (the beams). Models without inputs get inputs=None and batch_size."""


@registry.capability
class Streaming(abc.ABC):

  @classmethod
  @abc.abstractmethod
  def streams(cls, hp) -> bool:
    """Whether `stream` can decode with these hparams (input arriving in chunks)."""

  @classmethod
  @abc.abstractmethod
  def check_streaming(cls, hp) -> None:
    """Raises UserError, saying why, unless streams(hp)."""

  @abc.abstractmethod
  def initial_stream_state(self, batch: int = 1) -> dict:
    """The state of `batch` streams before their first chunk."""

  @abc.abstractmethod
  def stream(self, inputs, state, final):
    """(outputs that the chunk `inputs` completes, the new state)."""


@registry.capability
class CTCFrames(abc.ABC):

  @abc.abstractmethod
  def frame_log_probs(self, features):
    """(per-frame log-probabilities [b, t, classes] with the blank at 0, the frames of
    each example [b])."""

  @classmethod
  @abc.abstractmethod
  def output_frame_stride(cls, hp) -> int:
    """Input feature frames per frame of frame_log_probs (the time stride of the model's
    front end), which word timestamps convert to seconds."""


@registry.capability
class CTranslate2Export(abc.ABC):

  @abc.abstractmethod
  def ctranslate2_spec(self, num_positions: int):
    """This model as a CTranslate2 model specification (a `ctranslate2.specs` model spec
    with every weight and the model's own config set; the exporter adds vocabularies and
    special tokens). `num_positions`: the positions a position table must cover (the
    longest source or output the export will translate)."""


@dataclasses.dataclass(frozen=True)
class BenchmarkShape:
  """t2t-benchmark's synthetic batch: `batch` examples of `src_len` input positions
  (tokens, or feature frames) and `tgt_len` target tokens over `vocab_size` symbols;
  decoding reads `decode_src_len` input positions per example."""
  batch: int
  src_len: int
  tgt_len: int
  vocab_size: int
  decode_src_len: int


@registry.capability
class BenchmarkShapes:
  """Token-model defaults throughout; a model overrides what differs."""

  # What training throughput counts, and whether decoding runs to a requested length
  # (token models) or to the end of its input (speech).
  THROUGHPUT_UNIT: ClassVar[str] = "target_tokens"
  DECODES_TO_LENGTH: ClassVar[bool] = True
  # For models that decode to the end of their input: the result key of decoding speed in
  # THROUGHPUT_UNITs per second.
  DECODE_THROUGHPUT_KEY: ClassVar[str | None] = None

  @classmethod
  def describe_search(cls, search_settings: Search) -> str:
    """How predict() decodes under these settings, in words (t2t-benchmark's report)."""
    if search_settings.beam_size <= 1:
      return "greedy search, cached" if search_settings.use_cache else "greedy search"
    return f"beam search, beam {search_settings.beam_size}" + (
        ", cached" if search_settings.use_cache else "")

  @classmethod
  def benchmark_shape(cls, smoke: bool = False) -> BenchmarkShape:
    """The default synthetic batch (smoke: tiny, for a quick check that all runs)."""
    if smoke:
      return BenchmarkShape(batch=4, src_len=8, tgt_len=8, vocab_size=64, decode_src_len=4)
    return BenchmarkShape(batch=32, src_len=64, tgt_len=64, vocab_size=32768,
                          decode_src_len=32)

  @classmethod
  def set_benchmark_vocab(cls, hp, vocab_size: int) -> None:
    """The vocabulary size a synthetic benchmark trains with (no problem's data)."""
    hp.input_vocab_size = hp.target_vocab_size = vocab_size

  @classmethod
  def benchmark_features(cls, hp, shape: BenchmarkShape, seed=1234) -> dict:
    """A training batch of shape's lengths without padding or EOS: every position is a
    real token."""
    rng = np.random.default_rng(seed)
    v = hp.target_vocab_size
    features = {"targets": tf.constant(rng.integers(2, v, (shape.batch, shape.tgt_len)),
                                       tf.int32)}
    if hp.has_inputs:
      features["inputs"] = tf.constant(rng.integers(2, v, (shape.batch, shape.src_len)),
                                       tf.int32)
    return features

  @classmethod
  def benchmark_decode_features(cls, hp, batch: int, src_len: int, seed=4321) -> dict:
    """Sources of src_len tokens ending with EOS, as the decoder feeds them."""
    ids = np.random.default_rng(seed).integers(2, hp.target_vocab_size, (batch, src_len))
    ids[:, -1] = EOS_ID
    return {"inputs": tf.constant(ids, tf.int32)}

  @classmethod
  def throughput_units(cls, hp, batch: int, src_len: int, tgt_len: int) -> float:
    """THROUGHPUT_UNITs in a batch of these lengths (no padding)."""
    return batch * tgt_len

  @classmethod
  def batch_units(cls, hp, features) -> tuple[float, float]:
    """(real, padded) THROUGHPUT_UNITs in a batch from the input pipeline."""
    targets = features["targets"].numpy()
    return int((targets != 0).sum()), targets.size

  @classmethod
  def train_flops(cls, hp, shape: BenchmarkShape) -> int | None:
    """Model FLOPs of one training step (3 x forward, 2 per multiply-add) on a batch of
    `shape`, or None when the model has no formula (t2t-benchmark then reports no MFU)."""
    return None


def benchmark_shapes(model_cls) -> type[BenchmarkShapes]:
  """What t2t-benchmark reads of model_cls: its own BenchmarkShapes, else the defaults."""
  return model_cls if issubclass(model_cls, BenchmarkShapes) else BenchmarkShapes
