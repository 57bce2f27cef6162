"""The benchmark's per-family pieces: which adapter a model gets, its synthetic batch,
and FLOP counts equal to the reference scripts' (shared/bench/common.py) at their shapes."""
import pytest

from t2t_lite import benchmark, benchmark_adapters, registry


def _hparams(name, vocab_size, adapter):
  hp = registry.hparams(name)
  adapter.set_vocab(hp, vocab_size)
  return hp


def test_adapter_follows_the_model_class_and_its_subclasses():
  Transformer = registry.model("transformer")

  class MyTransformer(Transformer):
    pass
  assert isinstance(benchmark_adapters.adapter_for(Transformer),
                    benchmark_adapters.TransformerAdapter)
  assert isinstance(benchmark_adapters.adapter_for(MyTransformer),
                    benchmark_adapters.TransformerAdapter)
  speech = benchmark_adapters.adapter_for(registry.model("deep_speech2"))
  assert speech.unit == "audio_seconds"


def test_unknown_family_gets_the_generic_adapter_without_flops():
  from t2t_lite.t2t_model import T2TModel

  class Other(T2TModel):
    pass
  adapter = benchmark_adapters.adapter_for(Other)
  assert type(adapter) is benchmark_adapters.TokenSeq2SeqAdapter
  assert adapter.train_flops(registry.hparams("transformer_tiny"), 2, 3, 4) is None


# Values printed by shared/bench/common.py's seq2seq_train_flops / ds2_train_flops.
@pytest.mark.parametrize("hparams_set,vocab,batch,flops", [
    ("transformer_tiny", 8192, 64, 50734301184),
    ("transformer_small", 16384, 32, 99052683264),
    ("transformer_base", 32768, 32, 761819824128)])
def test_transformer_flops_match_the_reference(hparams_set, vocab, batch, flops):
  adapter = benchmark_adapters.TransformerAdapter()
  assert adapter.train_flops(_hparams(hparams_set, vocab, adapter), batch, 64, 64) == flops


def test_deep_speech2_flops_match_the_reference():
  adapter = benchmark_adapters.SpeechCTCAdapter()
  hp = _hparams("deep_speech2_base", 30, adapter)
  assert adapter.train_flops(hp, 16, 400, 40) == 173934182400


def test_speech_batch_and_units():
  adapter = benchmark_adapters.SpeechCTCAdapter()
  hp = _hparams("deep_speech2_base", 30, adapter)
  features = adapter.synthetic_features(hp, 3, 50, 7)
  assert features["inputs"].shape == (3, 50, 80)
  assert features["inputs_length"].numpy().tolist() == [50, 50, 50]
  targets = features["targets"].numpy()
  assert targets.shape == (3, 7) and targets.min() >= 2 and targets.max() < 30
  assert adapter.units_per_step(hp, 3, 50, 7) == pytest.approx(1.5)  # 150 frames of 10 ms
  real, total = adapter.batch_units(hp, {"inputs": features["inputs"],
                                         "inputs_length": features["inputs_length"] - 10})
  assert (real, total) == pytest.approx((1.2, 1.5))


def test_precision_follows_the_activation_dtype_hparam():
  hp = registry.hparams("transformer_tiny")
  assert benchmark.precision(hp) == "fp32"
  hp.set_hparam(benchmark.PRECISION_HPARAM, "bfloat16")  # the mixed-precision hparam
  assert benchmark.precision(hp) == "bf16"
