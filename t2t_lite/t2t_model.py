"""T2TModel: the base class of every registered model, and the core contract the engine uses.

A model maps a features dict to logits and declares everything the engine needs of it:

  feature_spec, decode_feature_spec   the features call() and predict() read (checked
                            against the problem's)
  call, loss_sums, eval_metric_sums   training and evaluation
  training_loss_sums        the loss of one training batch: loss_sums of call's logits,
                            unless the model computes the same loss in one piece (e.g.
                            its output softmax fused with the cross-entropy)
  predict                   decoding: features -> (ids, scores) under a Search. Token models
                            get greedy/beam search (search_decode); models of other inputs
                            (speech) override predict.
  dummy_features, build_from_features   build every weight and make it checkpointable
  validate_hparams, all_hparam_specs, registry_name   what the run's setup reads

A subclass declares the hparams groups it reads as HPARAMS (each class its own, composed
down the class tree; checks between hparams are the groups' check_between), and inherits
the optional capabilities it has (capabilities.py: Streaming, CTCFrames, CTranslate2Export,
IncrementalDecoding, BenchmarkShapes); registering it records them.

A subclass overrides `call` at least; registry.register_model checks the contract when a
model is registered (a missing `call`, a method whose name is one typo away from a hook, or
a capability's hook defined without inheriting the capability, is an error naming it).
"""
import keras
import tensorflow as tf

from t2t_lite import capabilities, engine_hparams, hparams_lib, metrics, options, registry, search
from t2t_lite.capabilities import BenchmarkShape as BenchmarkShape  # t2t-benchmark's batch
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


class T2TModel(keras.Model):

  def __init__(self, hparams: HParams, **kwargs):
    super().__init__(**kwargs)
    self.hparams = hparams
    self.built = True  # layers build on the first call (see build_from_features)

  # -- setup -------------------------------------------------------------------------------
  @classmethod
  def registry_name(cls) -> str:
    return registry.models.name_of(cls)

  @classmethod
  def all_hparam_specs(cls) -> list[HParamSpec]:
    """The engine's hparams and this model's."""
    return options.hparam_specs(*engine_hparams.GROUPS, *hparams_groups(cls))

  @classmethod
  def validate_hparams(cls, hp: HParams, between_hparams: bool = True) -> None:
    """The one check of an hparams set for this model: every hparam the engine and the
    model read is present, typed and within its declaration, then each group's checks
    between hparams (unless between_hparams is False: a search checks each end of its
    ranges alone). Cheap: builds nothing. Raises UserError."""
    hparams_lib.validate(hp, cls.all_hparam_specs(), f"model {cls.registry_name()}")
    if between_hparams:
      for group in hparams_groups(cls):
        group.check_between(hp)

  @classmethod
  def feature_spec(cls, hp: HParams) -> dict[str, tf.TensorSpec]:
    """The features of one example that call() reads (unbatched)."""
    out = {"targets": tf.TensorSpec([None], tf.int32)}
    if hp.has_inputs:
      out["inputs"] = tf.TensorSpec([None], tf.int32)
    return out

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
    return search_decode(self, features["inputs"], search_settings)


def hparams_groups(model_cls) -> list[type[HParamsGroup]]:
  """ModelHParams, then the HPARAMS of model_cls and its bases, base first, each once."""
  groups = [g for c in reversed(model_cls.__mro__) for g in vars(c).get("HPARAMS", ())]
  return list(dict.fromkeys([ModelHParams, *groups]))


def hparam_specs(model_cls) -> list[HParamSpec]:
  """The declarations of a model's hparams groups (without the engine's)."""
  return options.hparam_specs(*hparams_groups(model_cls))


def track_list(model, prefix, items):
  """Makes each item an attribute of model (prefix_0, prefix_1, ...) and returns a tuple
  of them, so checkpoints name them by role (Keras 3 lists are invisible to
  tf.train.Checkpoint; build_from_features only attaches such leftovers by position)."""
  for i, item in enumerate(items):
    setattr(model, f"{prefix}_{i}", item)
  return tuple(items)


def decoding_fn(model, inputs, rows_per_example, max_length, use_cache=True,
                batch_size=None):
  """(symbols_to_logits_fn, initial state) for search.py: the model's own
  (IncrementalDecoding), else uncached_decoding_fn."""
  if isinstance(model, capabilities.IncrementalDecoding):
    return model.decoding_fn(inputs, rows_per_example, max_length, use_cache, batch_size)
  return uncached_decoding_fn(model, inputs, rows_per_example, max_length)


def uncached_decoding_fn(model, inputs, rows_per_example, max_length, batch_size=None):
  """A decoding_fn that runs the full model on the prefix at every step.

  Rows are batch-major: each example of `inputs` is repeated `rows_per_example` times
  (the beams). Models without inputs get inputs=None (and batch_size, unused here)."""
  tiled_inputs = (None if inputs is None else
                  tf.repeat(inputs, rows_per_example, axis=0))

  def symbols_to_logits_fn(seq, step, state):
    targets = seq[:, 1:step + 2]  # the next symbol's column is a placeholder
    features = {"targets": targets}
    if tiled_inputs is not None:
      features["inputs"] = tiled_inputs
    logits = model(features, training=False)
    return logits[:, step], state

  return symbols_to_logits_fn, {}


def search_decode(model, inputs, search_settings: Search = Search()):
  """Decodes a batch of token ids. With inputs (translation), `inputs` [b, s] are the
  sources; for a model without inputs (a language model) they are prompts [b, p]
  (0-padded, possibly of width 0) that every output starts with. Returns (ids
  [b, length], scores [b]) of the best hypothesis (or a sample, with temperature > 0
  and beam_size 1); with return_beams, every beam (search.decode)."""
  def make_decoding_fn(inputs, rows_per_example, max_length, batch_size):
    return decoding_fn(model, inputs, rows_per_example, max_length,
                       search_settings.use_cache,
                       batch_size=None if inputs is not None else batch_size)
  return search.decode(make_decoding_fn, inputs, model.hparams.has_inputs,
                       model.hparams.target_vocab_size, search_settings)


def _check_model(cls) -> None:
  """What registry.register_model checks of a model class."""
  if cls.call is T2TModel.call:
    raise UserError(f"model {cls.__name__} does not implement call(features, training)")
  options.check_hparams_groups(vars(cls).get("HPARAMS", ()), f"model {cls.__name__}")
  if "check_hparams" in vars(cls):
    raise UserError(f"model {cls.__name__} defines check_hparams: checks between hparams "
                    "are its hparams group's check_between (options.HParamsGroup)")
  registry.check_capability_hooks(cls, f"model {cls.__name__}")
  registry.check_hook_names(cls, T2TModel, f"model {cls.__name__}")


registry.declare_contract(T2TModel, _check_model)
