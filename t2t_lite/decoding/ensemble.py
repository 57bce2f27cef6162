"""Ensemble decoding (t2t-decoder --ensemble=RUN_A,RUN_B,...): several trained models,
possibly of different architectures, search as one.

At every step of greedy or beam search each member computes its next-token logits with its
own decoding_fn (its own cache, reordered with the beams like any search state), and the
search follows the mean of the members' log-probabilities (search.ensemble). Members must
share the target vocabulary (and, with inputs, the source vocabulary); t2t-decoder checks
that their vocabularies decode every id alike.

An Ensemble offers what the decoders use of a model: predict() for decoding, and a call
that maps features to the members' mean log-probabilities, for scoring given outputs
(scoring.py), so n-best scores and --score_file agree for ensembles too.
"""
import tensorflow as tf

from t2t_lite import search, t2t_model
from t2t_lite.errors import UserError


class Ensemble:

  def __init__(self, models, names=None):
    if not models:
      raise UserError("--ensemble needs at least one run")
    self.models = list(models)
    names = names or [f"member {i}" for i in range(len(models))]
    first = self.models[0].hparams
    for name, model in zip(names[1:], self.models[1:]):
      hp = model.hparams
      for key in ("has_inputs", "target_vocab_size", "input_vocab_size"):
        if hp.get(key) != first.get(key):
          raise UserError(f"--ensemble: {name} has {key}={hp.get(key)} but {names[0]} has "
                          f"{first.get(key)}; ensemble members must share their "
                          "vocabularies")
    self.hparams = first

  @property
  def has_inputs(self):
    return self.hparams.has_inputs

  def __call__(self, features, training=False):
    """The members' mean log-probabilities [b, t, vocab] of teacher-forced targets."""
    return tf.add_n([tf.nn.log_softmax(tf.cast(m(features, training=False), tf.float32))
                     for m in self.models]) / float(len(self.models))

  def predict(self, features, search_settings):
    """Decodes a batch like T2TModel.predict, with the members' combined steps."""
    s = search_settings

    def make_decoding_fn(inputs, rows_per_example, max_length, batch_size):
      fns, states = [], []
      for model in self.models:
        fn, state = t2t_model.decoding_fn(
            model, inputs, rows_per_example, max_length, s.use_cache,
            batch_size=None if inputs is not None else batch_size)
        fns.append(fn)
        states.append(state)
      return search.ensemble(fns), search.ensemble_state(states)

    return search.decode(make_decoding_fn, features["inputs"], self.has_inputs,
                         self.hparams.target_vocab_size, s)


def vocabulary_fingerprint(encoder):
  """What every id of a vocabulary decodes to: equal for vocabularies that agree."""
  return tuple(encoder.decode([i]) for i in range(encoder.vocab_size))
