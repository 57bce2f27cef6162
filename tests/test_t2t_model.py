"""T2TModel's contract: a core of at most 12 public members, hparam declarations and their
one validation point, feature specs, the default uncached decoding, predict over a Search,
capabilities declared by inheritance (and recorded by the registry), and the measurement
defaults of models without BenchmarkShapes."""
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import capabilities, engine_hparams, options, registry, t2t_model
from t2t_lite.capabilities import BenchmarkShape, Streaming, benchmark_shapes
from t2t_lite.errors import UserError
from t2t_lite.options import setting
from t2t_lite.search import Search
from t2t_lite.t2t_model import T2TModel

VOCAB = 9


@options.hparams_group("bigram")
class BigramHParams(options.HParamsGroup):
  bigram_scale: float = setting(1.0, "logit scale", above=0)


class Bigram(T2TModel):
  """Logits of the next token from the previous one: small enough to check by hand."""
  HPARAMS = (BigramHParams,)

  def __init__(self, hparams, **kwargs):
    super().__init__(hparams, **kwargs)
    self.table = self.add_weight(name="table", shape=(VOCAB, VOCAB),
                                 initializer="random_normal")

  def call(self, features, training=False):
    previous = tf.pad(features["targets"], [[0, 0], [1, 0]])[:, :-1]
    return tf.gather(self.table, previous) * self.hparams.bigram_scale


def _hparams(**changes):
  return registry.hparams("transformer_tiny").with_groups(BigramHParams()).replace(
      **{"input_vocab_size": VOCAB, "target_vocab_size": VOCAB, "has_inputs": False, **changes})


def test_the_core_contract_is_small():
  public = sorted(n for n in vars(T2TModel) if not n.startswith("_"))
  assert public == sorted([
      "call", "loss_sums", "training_loss_sums", "eval_metric_sums", "feature_spec",
      "decode_feature_spec", "predict", "dummy_features", "build_from_features",
      "validate_hparams", "all_hparam_specs", "registry_name"])


def test_capabilities_are_declared_recorded_and_checked():
  assert registry.models_with(Streaming) == ["deep_speech2"]
  assert registry.models_with(capabilities.CTranslate2Export) == ["transformer"]
  assert "transformer" in registry.models_with(capabilities.BenchmarkShapes)

  class StreamsByName(T2TModel):
    def call(self, features, training=False):
      return features["targets"]

    def stream(self, inputs, state, final):
      return inputs, state

  with pytest.raises(UserError, match="defines stream of capability Streaming but does "
                     "not inherit it"):
    registry.Registry("model", contract="t2t_lite.t2t_model:T2TModel").register(
        StreamsByName)


def test_checks_between_hparams_belong_to_their_group():
  class Checked(T2TModel):
    def call(self, features, training=False):
      return features["targets"]

    @classmethod
    def check_hparams(cls, hp):
      pass

  with pytest.raises(UserError, match="defines check_hparams: checks between hparams are "
                     "its hparams group's check_between"):
    registry.Registry("model", contract="t2t_lite.t2t_model:T2TModel").register(Checked)
  transformer = registry.model("transformer")
  with pytest.raises(UserError, match="hidden_size=30 must be divisible by num_heads=4"):
    transformer.validate_hparams(registry.hparams("transformer_tiny").replace(
        hidden_size=30, num_heads=4))


def test_hparam_specs_merge_the_class_and_its_bases():
  names = [s.name for s in t2t_model.hparam_specs(Bigram)]
  assert names[:2] == ["hidden_size", "num_hidden_layers"]  # T2TModel's ModelHParams
  assert names[-1] == "bigram_scale"
  assert {s.name for s in engine_hparams.SPECS} <= {s.name for s in Bigram.all_hparam_specs()}


def test_hparams_are_declared_as_groups():
  class Old(T2TModel):
    HPARAMS = (BigramHParams.specs()[0],)

    def call(self, features, training=False):
      return features["targets"]

  with pytest.raises(UserError, match="HPARAMS must list hparams groups"):
    registry.Registry("model", contract="t2t_lite.t2t_model:T2TModel").register(Old)


def test_validate_hparams_is_the_one_check():
  Bigram.validate_hparams(_hparams())
  with pytest.raises(UserError, match="bigram_scale=0.0 must be > 0"):
    Bigram.validate_hparams(_hparams(bigram_scale=0.0))
  with pytest.raises(UserError, match="batch_size=0 must be >= 1"):
    Bigram.validate_hparams(_hparams(batch_size=0))  # an engine hparam
  missing = registry.hparams("transformer_tiny")
  with pytest.raises(UserError, match="needs hparams bigram_scale that this hparams set lacks"):
    Bigram.validate_hparams(missing)


def test_feature_spec_follows_has_inputs():
  assert set(Bigram.feature_spec(_hparams())) == {"targets"}
  assert set(Bigram.feature_spec(_hparams(has_inputs=True))) == {"inputs", "targets"}
  assert Bigram.decode_feature_spec(_hparams())["inputs"].dtype == tf.int32


def test_predict_greedy_follows_the_bigram_table():
  hp = _hparams()
  model = Bigram(hp)
  model.build_from_features(model.dummy_features(False))
  table = np.full((VOCAB, VOCAB), -5.0, np.float32)
  for previous, following in ((0, 3), (3, 4), (4, 1), (5, 6), (6, 1)):
    table[previous, following] = 5.0  # 0 -> 3 -> 4 -> EOS; a prompt 5 -> 6 -> EOS
  model.table.assign(table)
  ids, scores = model.predict({"inputs": tf.zeros([1, 0], tf.int32)},
                              Search(beam_size=1, extra_length=5))
  assert ids.numpy()[0].tolist()[:3] == [3, 4, 1] and scores.shape == (1,)
  ids, _ = model.predict({"inputs": tf.constant([[5]])}, Search(beam_size=2, extra_length=4))
  assert ids.numpy()[0].tolist()[:3] == [5, 6, 1]  # the prompt, then its continuation


def test_measurement_defaults_are_token_models():
  hp = _hparams(has_inputs=True)
  shapes = benchmark_shapes(Bigram)  # Bigram does not inherit BenchmarkShapes
  shape = shapes.benchmark_shape()
  assert (shape.batch, shape.src_len, shape.tgt_len) == (32, 64, 64)
  features = shapes.benchmark_features(hp, BenchmarkShape(2, 3, 4, VOCAB, 2))
  assert features["inputs"].shape == (2, 3) and features["targets"].shape == (2, 4)
  decode = shapes.benchmark_decode_features(hp, 2, 5)["inputs"].numpy()
  assert (decode[:, -1] == 1).all()  # sources end with EOS
  assert shapes.throughput_units(hp, 2, 3, 4) == 8
  assert shapes.batch_units(hp, {"targets": tf.constant([[3, 1, 0]])}) == (2, 3)
  assert shapes.train_flops(hp, shape) is None
  assert shapes.describe_search(Search(beam_size=4)) == "beam search, beam 4, cached"


def test_every_registered_set_refuses_each_value_outside_its_models_declarations():
  """For every registered model and hparams set made for it: each invalid value the
  declarations generate, given as --hparams gives it, is one UserError naming it."""
  checked = 0
  for model_name in registry.models.names():
    model_cls = registry.model(model_name)
    specs = model_cls.all_hparam_specs()
    for set_name in registry.hparams_sets_having([s.name for s in specs], limit=100):
      for s in specs:
        if s.type not in (int, float):
          continue
        for bad in s.bounds.invalid_values(s.type):
          hp = registry.hparams(set_name)
          hp.parse(f"{s.name}={bad}")  # the set's own type must take the declared one
          with pytest.raises(UserError, match=f"hparam {s.name}={bad!r} must be"):
            model_cls.validate_hparams(hp)
          checked += 1
  assert checked >= 100
