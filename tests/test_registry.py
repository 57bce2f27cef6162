import pytest

from t2t_lite import registry
from t2t_lite.errors import UserError


def test_default_names_follow_tensor2tensor():
  assert registry.default_name("TranslateEndeWmt32k") == "translate_ende_wmt32k"
  assert registry.default_name("LSTMSeq2seqAttention") == "lstm_seq2seq_attention"
  assert registry.default_name("AlgorithmicReverseDecimal40") == "algorithmic_reverse_decimal40"


def test_builtins_are_registered():
  assert "algorithmic_reverse_decimal40" in registry.problems
  assert "transformer" in registry.models
  for name in ["transformer_tiny", "transformer_small", "transformer_base", "transformer_big",
               "transformer_base_single_gpu"]:
    assert name in registry.hparams_sets
  assert {"adam", "adafactor"} <= set(registry.optimizers.names())
  assert "rsqrt_decay" in registry.learning_rate_schedules


def test_unknown_name_lists_closest_names_only():
  with pytest.raises(UserError) as e:
    registry.hparams("transformer_tinny")
  msg = str(e.value)
  assert "transformer_tiny" in msg and "\n" not in msg
  suggested = msg.split("did you mean ")[1].split("?")[0].split(", ")
  assert suggested[0] == "transformer_tiny" and len(suggested) <= 3  # not the whole registry


def test_reregistering_same_object_is_harmless_and_clash_names_both():
  reg = registry.Registry("thing")

  def my_thing():
    return 1
  reg.register(my_thing)
  reg.register(my_thing)
  assert reg.get("my_thing") is my_thing

  def other():
    return 2
  with pytest.raises(UserError) as e:
    reg.register("my_thing")(other)
  assert "test_registry.py" in str(e.value) and str(e.value).count(":") >= 2


def test_registry_help_lists_every_kind():
  text = registry.help_string()
  for title in ["Problems:", "Models:", "HParams sets:", "Optimizers:"]:
    assert title in text
  assert "  * transformer_tiny" in text


def test_registration_checks_the_model_contract():
  from t2t_lite.t2t_model import T2TModel
  models = registry.Registry("model", contract="t2t_lite.t2t_model:T2TModel")

  class NoCall(T2TModel):
    pass
  with pytest.raises(UserError, match="does not implement call"):
    models.register(NoCall)

  class Misspelled(T2TModel):
    def call(self, features, training=False):
      return features["targets"]

    def loss_sum(self, logits, features):  # meant loss_sums
      return 0.0, 1.0
  with pytest.raises(UserError, match="'loss_sum'.*did you mean loss_sums"):
    models.register(Misspelled)

  with pytest.raises(UserError, match="must subclass t2t_lite.t2t_model.T2TModel"):
    models.register(type("NotAModel", (), {}))
  assert "no_call" not in models and "misspelled" not in models


def test_registration_checks_the_problem_contract():
  from t2t_lite.data.problem import Problem
  problems = registry.Registry("problem", contract="t2t_lite.data.problem:Problem")

  class NoData(Problem):
    def feature_encoders(self, data_dir):
      return {}
  with pytest.raises(UserError, match="does not implement generate_encoded_samples"):
    problems.register(NoData)

  class Typo(NoData):
    decode_metric = ("bleu",)  # meant decode_metrics

    def generate_encoded_samples(self, data_dir, tmp_dir, split):
      yield {}
  with pytest.raises(UserError, match="did you mean decode_metrics"):
    problems.register(Typo)


def test_hparams_sets_having_names_the_sets_that_define_them():
  assert registry.hparams_sets_having(["rnn_hidden_size"])[0].startswith("deep_speech2")
  assert registry.hparams_sets_having(["no_such_hparam"]) == []
