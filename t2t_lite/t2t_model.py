"""T2TModel: the base class of every registered model.

A model maps a features dict ({"inputs": [b, s], "targets": [b, t]} of ids) to logits
[b, t, vocab]; the base class adds the loss, eval metric sums, and decoding. Subclasses
that support incremental (cached) decoding implement `decoding_fn`; any other model still
decodes through the uncached default, which reruns `call` on the prefix at every step.
"""
import keras
import tensorflow as tf

from t2t_lite import metrics, mixed_precision, registry
from t2t_lite.decoding import search
from t2t_lite.errors import UserError


class T2TModel(keras.Model):

  # Hparams the model reads beyond basic_params1's; checked before anything is written.
  REQUIRED_HPARAMS = ()

  @classmethod
  def validate_hparams(cls, hp):
    """Raises UserError for hparams this model cannot use. Cheap: builds nothing."""
    name = registry.default_name(cls)
    missing = [n for n in cls.REQUIRED_HPARAMS if n not in hp]
    if missing:
      raise UserError(f"model {name} needs hparams {', '.join(missing)} that this hparams "
                      "set lacks; use a set made for it")
    for key, value in hp.values().items():
      if key.endswith("dropout") and not 0.0 <= value < 1.0:
        raise UserError(f"hparam {key}={value} must be in [0, 1)")
    if not 0.0 <= hp.label_smoothing < 1.0:
      raise UserError(f"hparam label_smoothing={hp.label_smoothing} must be in [0, 1)")
    if hp.batch_size <= 0:
      raise UserError(f"hparam batch_size={hp.batch_size} must be positive (tokens per replica)")
    if hp.length_bucket_step <= 1.0:
      raise UserError(f"hparam length_bucket_step={hp.length_bucket_step} must be > 1.0")
    if hp.get("packed_length", 0) < 0 or hp.get("packed_length", 0) > hp.batch_size:
      raise UserError(f"hparam packed_length={hp.packed_length} must be in [0, batch_size]"
                      " (0: no packing)")
    if hp.clip_grad_norm < 0:
      raise UserError(f"hparam clip_grad_norm={hp.clip_grad_norm} must be >= 0 (0: off)")
    mixed_precision.activation_dtype(hp)  # one of the known dtypes
    for key in ("gradient_accumulation_steps", "mixed_precision_optimizer_init_loss_scale",
                "mixed_precision_loss_scale_growth_steps"):
      if hp.get(key, 1) < 1:
        raise UserError(f"hparam {key}={hp.get(key)} must be >= 1")

  def __init__(self, hparams, **kwargs):
    super().__init__(**kwargs)
    self.hparams = hparams

  def build(self, *shapes, **kw):
    self.built = True  # layers build on the first call (see build_from_features)

  # -- training ---------------------------------------------------------------------------
  def call(self, features, training=False):
    raise NotImplementedError

  def loss_sums(self, logits, features):
    """(loss sum over non-padding target tokens, their count)."""
    return metrics.smoothed_cross_entropy_sum(logits, features["targets"],
                                              self.hparams.label_smoothing)

  def eval_metric_sums(self, features, detokenize=None):
    """Sums over the batch for the eval metrics (see metrics.py). `detokenize` is the
    problem's in-graph ids -> text function, for models that report text metrics."""
    logits = self(features, training=False)
    return metrics.metric_sums(logits, features["targets"])

  def dummy_features(self, has_inputs=True):
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

  def build_from_features(self, features):
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
      children.update(getattr(self, "_extra_checkpoint_state", {}))
    return children

  # -- decoding ---------------------------------------------------------------------------
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

  def infer(self, inputs, beam_size=1, alpha=0.6, extra_length=50, use_cache=True,
            temperature=0.0, top_k=0, seed=0):
    """Decodes a batch. With inputs (translation), `inputs` [b, s] are the sources; for a
    model without inputs (a language model) they are prompts [b, p] (0-padded, possibly
    of width 0) that every output starts with. Returns (ids [b, length], scores [b]) of
    the best hypothesis (or a sample, with temperature > 0 and beam_size 1)."""
    batch_size = tf.shape(inputs)[0]
    max_length = tf.shape(inputs)[1] + extra_length
    if self.hparams.get("has_inputs", True):
      fn, state = self.decoding_fn(inputs, beam_size, max_length, use_cache)
    else:
      fn, state = self.decoding_fn(None, beam_size, max_length, use_cache,
                                   batch_size=batch_size)
      fn = search.force_prefix(fn, inputs, beam_size)
    if beam_size <= 1:
      return search.greedy_search(fn, batch_size, max_length, state,
                                  temperature=temperature, top_k=top_k, seed=seed)
    ids, scores = search.beam_search(fn, batch_size, beam_size, max_length,
                                     self.hparams.target_vocab_size, alpha, state)
    return ids[:, 0], scores[:, 0]
