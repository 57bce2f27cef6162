"""T2TModel: the base class of every registered model, and the contract the engine uses.

A model maps a features dict to logits and declares everything the engine needs of it:

  HPARAMS / check_hparams   the hparams it reads (checked before anything is written)
  feature_spec              the features call() reads (checked against the problem's)
  call, loss_sums, eval_metric_sums        training and evaluation
  training_loss_sums        the loss of one training batch: loss_sums of call's logits,
                            unless the model computes the same loss in one piece (e.g.
                            its output softmax fused with the cross-entropy)
  predict                   decoding: features -> (ids, scores) under a Search. Token models
                            get greedy/beam search over `decoding_fn` (cached when the model
                            implements it, else rerunning `call` on the prefix); models of
                            other inputs (speech) override predict.
  ctranslate2_spec          the model as a CTranslate2 model (serving/ctranslate2_export.py),
                            for models CTranslate2 can run.
  train_flops, benchmark_*  what t2t-benchmark measures: the model FLOPs of a training step
                            (None: no MFU), synthetic batches, the throughput unit.

A subclass overrides `call` at least; registry.register_model checks the contract when a
model is registered (a missing `call`, or a method whose name is one typo away from a hook,
is an error naming it).
"""
import dataclasses
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from t2t_lite import engine_hparams, hparams_lib, metrics, options, registry, search
from t2t_lite.data.text_encoder import EOS_ID
from t2t_lite.errors import UserError
from t2t_lite.hparams_lib import HParams, HParamSpec
from t2t_lite.options import HParamsGroup, setting
from t2t_lite.search import Search

Features = dict[str, tf.Tensor]


@options.hparams_group("model")
class ModelHParams(HParamsGroup):
  """Tensor2Tensor's basic_params1 model hparams: what every model is given (each reads
  those it needs) and the problem fills in (Problem.update_hparams)."""
  hidden_size: int = setting(64, "model width", minimum=1)
  num_hidden_layers: int = setting(2, "layers of each stack", minimum=1)
  layer_prepostprocess_dropout: float = setting(0.1, "dropout before each residual add",
                                                minimum=0, below=1)
  norm_epsilon: float = setting(1e-6, "layer normalization's epsilon", above=0)
  label_smoothing: float = setting(0.1, "label smoothing of the cross-entropy", minimum=0,
                                   below=1)
  has_inputs: bool = setting(True, "the problem has inputs (set from the problem)")
  input_vocab_size: int = setting(0, "set from the problem's vocabulary", minimum=0)
  target_vocab_size: int = setting(0, "set from the problem's vocabulary", minimum=0)


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


class T2TModel(keras.Model):

  registered_name: ClassVar[str | None] = None  # set by registry.register_model

  @classmethod
  def registry_name(cls) -> str:
    return cls.registered_name or registry.default_name(cls)

  # The hparams groups (options.hparams_group) this class reads, beyond the engine's;
  # subclasses add theirs (see hparam_specs).
  HPARAMS: ClassVar[tuple[type[HParamsGroup], ...]] = (ModelHParams,)

  @classmethod
  def check_registration(cls) -> None:
    """registry.register_model runs this: a model implements call, and no method name is a
    misspelled hook."""
    if cls.call is T2TModel.call:
      raise UserError(f"model {cls.__name__} does not implement call(features, training)")
    options.check_hparams_groups(vars(cls).get("HPARAMS", ()), f"model {cls.__name__}")
    registry.check_hook_names(cls, T2TModel, f"model {cls.__name__}")

  @classmethod
  def hparams_groups(cls) -> list[type[HParamsGroup]]:
    """The HPARAMS of this class and its bases, base first, each group once."""
    groups = [g for c in reversed(cls.__mro__) for g in vars(c).get("HPARAMS", ())]
    return list(dict.fromkeys(groups))

  @classmethod
  def hparam_specs(cls) -> list[HParamSpec]:
    """The declarations of this model's hparams groups."""
    return options.hparam_specs(*cls.hparams_groups())

  @classmethod
  def all_hparam_specs(cls) -> list[HParamSpec]:
    """The engine's hparams and this model's."""
    return options.hparam_specs(*engine_hparams.GROUPS, *cls.hparams_groups())

  @classmethod
  def validate_hparams(cls, hp: HParams, between_hparams: bool = True) -> None:
    """The one check of an hparams set for this model: every hparam the engine and the
    model read is present, typed and within its declaration, then check_hparams (unless
    between_hparams is False: a search checks each end of its ranges alone). Cheap:
    builds nothing. Raises UserError."""
    hparams_lib.validate(hp, cls.all_hparam_specs(), f"model {cls.registry_name()}")
    if between_hparams:
      cls.check_hparams(hp)

  @classmethod
  def check_hparams(cls, hp: HParams) -> None:
    """Checks between hparams (e.g. hidden_size divisible by num_heads); single values are
    checked against HPARAMS before this runs. Raises UserError."""

  @classmethod
  def feature_spec(cls, hp: HParams) -> dict[str, tf.TensorSpec]:
    """The features of one example that call() reads (unbatched)."""
    out = {"targets": tf.TensorSpec([None], tf.int32)}
    if hp.has_inputs:
      out["inputs"] = tf.TensorSpec([None], tf.int32)
    return out

  def __init__(self, hparams: HParams, **kwargs):
    super().__init__(**kwargs)
    self.hparams = hparams

  def build(self, *shapes, **kw):
    self.built = True  # layers build on the first call (see build_from_features)

  # -- training ---------------------------------------------------------------------------
  def call(self, features: Features, training: bool = False) -> tf.Tensor:
    """Features -> logits [batch, length, vocab]."""
    raise NotImplementedError

  def loss_sums(self, logits, features):
    """(loss sum over non-padding target tokens, their count)."""
    return metrics.smoothed_cross_entropy_sum(logits, features["targets"],
                                              self.hparams.label_smoothing)

  def training_loss_sums(self, features: Features) -> tuple[tf.Tensor, tf.Tensor]:
    """loss_sums of a training forward pass (dropout on): what the train step
    differentiates. A model whose loss can skip materializing its logits' gradient
    overrides this with an equal loss."""
    return self.loss_sums(self(features, training=True), features)

  def eval_metric_sums(self, features: Features, detokenize=None) -> dict[str, tf.Tensor]:
    """Sums over the batch for the eval metrics (see metrics.py). `detokenize` is the
    problem's in-graph ids -> text function, for models that report text metrics."""
    logits = self(features, training=False)
    return metrics.metric_sums(logits, features["targets"])

  def dummy_features(self, has_inputs=True) -> Features:
    """A batch of one tiny example that builds every weight (build_from_features)."""
    features = {"targets": tf.ones([1, 1], tf.int32)}
    if has_inputs:
      features["inputs"] = tf.ones([1, 1], tf.int32)
    return features

  def track_list(self, prefix, items):
    """Makes each item an attribute (prefix_0, prefix_1, ...) and returns a tuple of them,
    so checkpoints name them by role (Keras 3 lists are invisible to tf.train.Checkpoint;
    build_from_features only attaches such leftovers by position)."""
    for i, item in enumerate(items):
      setattr(self, f"{prefix}_{i}", item)
    return tuple(items)

  def build_from_features(self, features: Features) -> None:
    """Creates the variables by running the model once, and makes every one of them part
    of the model's checkpoints."""
    self(features, training=False)
    # Keras 3 keeps some state where tf.train.Checkpoint does not look: layers held in
    # lists, and the seed-generator states of Dropout/GRU/... layers. Attach whatever a
    # checkpoint would miss, in the model's own (deterministic) variable order.
    reachable = {id(obj) for obj in tf.train.TrackableView(self).descendants()}
    missing = [v for v in self.variables if id(v) not in reachable]
    # (Keras refuses new attributes once built; _trackable_children adds these instead.)
    object.__setattr__(self, "_extra_checkpoint_state",
                       {f"untracked_state_{i}": v for i, v in enumerate(missing)})

  def _trackable_children(self, save_type="checkpoint", **kwargs):
    children = super()._trackable_children(save_type, **kwargs)
    if save_type == "checkpoint":
      children.update(self.__dict__.get("_extra_checkpoint_state", {}))
    return children

  # -- decoding ---------------------------------------------------------------------------
  @classmethod
  def decode_feature_spec(cls, hp: HParams) -> dict[str, tf.TensorSpec]:
    """The features of one example that predict() reads: source ids ending with EOS, or a
    language model's prompt."""
    return {"inputs": tf.TensorSpec([None], tf.int32)}

  def predict(self, features: Features, search_settings: Search) -> tuple[tf.Tensor,
                                                                          tf.Tensor]:
    """Decodes a batch: (ids [b, length] 0-padded, scores [b])."""
    return self.infer(features["inputs"], search_settings)

  @classmethod
  def streams(cls, hp: HParams) -> bool:
    """Whether `stream` can decode with these hparams (input arriving in chunks)."""
    return False

  def initial_stream_state(self, batch: int = 1) -> dict[str, tf.Tensor]:
    """Streaming models: the state of `batch` streams before their first chunk."""
    raise NotImplementedError(f"model {self.registry_name()} does not stream")

  def stream(self, inputs, state, final):
    """Streaming models: (outputs that the chunk `inputs` completes, the new state)."""
    raise NotImplementedError(f"model {self.registry_name()} does not stream")

  def frame_log_probs(self, features: Features) -> tuple[tf.Tensor, tf.Tensor]:
    """CTC models: (per-frame log-probabilities [b, t, classes] with the blank at 0, the
    frames of each example [b]), for decoders that search outside the graph (e.g. with a
    word language model)."""
    raise NotImplementedError(f"model {self.registry_name()} emits no per-frame "
                              "probabilities")

  @classmethod
  def output_frame_stride(cls, hp: HParams) -> int:
    """CTC models: input feature frames per frame of frame_log_probs (the time stride of
    the model's front end), which word timestamps convert to seconds."""
    raise NotImplementedError(f"model {cls.registry_name()} emits no per-frame "
                              "probabilities")

  def decoding_fn(self, inputs, rows_per_example, max_length, use_cache=True,
                  batch_size=None):
    """(symbols_to_logits_fn, initial state) for search.py.

    Rows are batch-major: each example of `inputs` is repeated `rows_per_example` times
    (the beams). Models without inputs get inputs=None and batch_size. This default is
    uncached: it runs the full model on the prefix."""
    tiled_inputs = (None if inputs is None else
                    tf.repeat(inputs, rows_per_example, axis=0))

    def symbols_to_logits_fn(seq, step, state):
      targets = seq[:, 1:step + 2]  # the next symbol's column is a placeholder
      features = {"targets": targets}
      if tiled_inputs is not None:
        features["inputs"] = tiled_inputs
      logits = self(features, training=False)
      return logits[:, step], state

    return symbols_to_logits_fn, {}

  def infer(self, inputs, search_settings: Search = Search()):
    """Decodes a batch of token ids. With inputs (translation), `inputs` [b, s] are the
    sources; for a model without inputs (a language model) they are prompts [b, p]
    (0-padded, possibly of width 0) that every output starts with. Returns (ids
    [b, length], scores [b]) of the best hypothesis (or a sample, with temperature > 0
    and beam_size 1); with return_beams, every beam (search.decode)."""
    def make_decoding_fn(inputs, rows_per_example, max_length, batch_size):
      return self.decoding_fn(inputs, rows_per_example, max_length,
                              search_settings.use_cache,
                              batch_size=None if inputs is not None else batch_size)
    return search.decode(make_decoding_fn, inputs, self.hparams.has_inputs,
                         self.hparams.target_vocab_size, search_settings)

  def ctranslate2_spec(self, num_positions: int):
    """This model as a CTranslate2 model specification (a `ctranslate2.specs` model spec
    with every weight and the model's own config set; the exporter adds vocabularies and
    special tokens), for t2t-exporter --export_format=ctranslate2. None (the default):
    CTranslate2 has no equivalent of this model. `num_positions`: the positions a position
    table must cover (the longest source or output the export will translate)."""
    return None

  # -- measurement (t2t-benchmark) ----------------------------------------------------------
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
  def set_benchmark_vocab(cls, hp: HParams, vocab_size: int) -> None:
    """The vocabulary size a synthetic benchmark trains with (no problem's data)."""
    hp.input_vocab_size = hp.target_vocab_size = vocab_size

  @classmethod
  def benchmark_features(cls, hp: HParams, shape: BenchmarkShape, seed=1234) -> Features:
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
  def benchmark_decode_features(cls, hp: HParams, batch: int, src_len: int,
                                seed=4321) -> Features:
    """Sources of src_len tokens ending with EOS, as the decoder feeds them."""
    ids = np.random.default_rng(seed).integers(2, hp.target_vocab_size, (batch, src_len))
    ids[:, -1] = EOS_ID
    return {"inputs": tf.constant(ids, tf.int32)}

  @classmethod
  def throughput_units(cls, hp: HParams, batch: int, src_len: int, tgt_len: int) -> float:
    """THROUGHPUT_UNITs in a batch of these lengths (no padding)."""
    return batch * tgt_len

  @classmethod
  def batch_units(cls, hp: HParams, features: Features) -> tuple[float, float]:
    """(real, padded) THROUGHPUT_UNITs in a batch from the input pipeline."""
    targets = features["targets"].numpy()
    return int((targets != 0).sum()), targets.size

  @classmethod
  def train_flops(cls, hp: HParams, shape: BenchmarkShape) -> int | None:
    """Model FLOPs of one training step (3 x forward, 2 per multiply-add) on a batch of
    `shape`, or None when the model has no formula (t2t-benchmark then reports no MFU)."""
    return None


registry.declare_contract(T2TModel)
