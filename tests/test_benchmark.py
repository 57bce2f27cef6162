"""What t2t-benchmark measures of a model comes from the model's own hooks: its FLOP
formula (equal to the reference scripts' at their shapes, shared/bench/common.py), its
synthetic batch and its throughput unit; subclasses inherit them, and a model without a
formula gets no MFU rather than a wrong one."""
import pytest

from t2t_lite import benchmark, memory, registry
from t2t_lite.capabilities import BenchmarkShape, Streaming, benchmark_shapes
from t2t_lite.errors import UserError
from t2t_lite.t2t_model import T2TModel


def _hparams(name, vocab_size, model_cls):
  hp = registry.hparams(name)
  model_cls.set_benchmark_vocab(hp, vocab_size)
  return hp


def _shape(batch, src_len, tgt_len):
  return BenchmarkShape(batch, src_len, tgt_len, 0, 0)


def test_measurement_hooks_follow_the_model_class_and_its_subclasses():
  Transformer = registry.model("transformer")

  class MyTransformer(Transformer):
    pass
  hp = _hparams("transformer_tiny", 8192, Transformer)
  assert MyTransformer.train_flops(hp, _shape(2, 3, 4)) == \
      Transformer.train_flops(hp, _shape(2, 3, 4))
  assert registry.model("deep_speech2").THROUGHPUT_UNIT == "audio_seconds"


def test_a_model_without_a_formula_reports_no_flops():
  class Other(T2TModel):
    pass
  assert benchmark_shapes(Other).train_flops(registry.hparams("transformer_tiny"),
                                             _shape(2, 3, 4)) is None


# Values printed by shared/bench/common.py's seq2seq_train_flops / ds2_train_flops.
@pytest.mark.parametrize("hparams_set,vocab,batch,flops", [
    ("transformer_tiny", 8192, 64, 50734301184),
    ("transformer_small", 16384, 32, 99052683264),
    ("transformer_base", 32768, 32, 761819824128)])
def test_transformer_flops_match_the_reference(hparams_set, vocab, batch, flops):
  model_cls = registry.model("transformer")
  hp = _hparams(hparams_set, vocab, model_cls)
  assert model_cls.train_flops(hp, _shape(batch, 64, 64)) == flops


def test_deep_speech2_flops_match_the_reference():
  model_cls = registry.model("deep_speech2")
  hp = _hparams("deep_speech2_base", 30, model_cls)
  assert model_cls.train_flops(hp, _shape(16, 400, 40)) == 173934182400


def test_speech_batch_and_units():
  model_cls = registry.model("deep_speech2")
  hp = _hparams("deep_speech2_base", 30, model_cls)
  features = model_cls.benchmark_features(hp, _shape(3, 50, 7))
  assert features["inputs"].shape == (3, 50, 80)
  assert features["inputs_length"].numpy().tolist() == [50, 50, 50]
  targets = features["targets"].numpy()
  assert targets.shape == (3, 7) and targets.min() >= 2 and targets.max() < 30
  assert model_cls.throughput_units(hp, 3, 50, 7) == pytest.approx(1.5)  # 150 frames of 10 ms
  real, total = model_cls.batch_units(hp, {"inputs": features["inputs"],
                                           "inputs_length": features["inputs_length"] - 10})
  assert (real, total) == pytest.approx((1.2, 1.5))


def test_precision_follows_the_activation_dtype_hparam():
  hp = registry.hparams("transformer_tiny")
  assert benchmark.precision(hp) == "fp32"
  hp.set_hparam(benchmark.PRECISION_HPARAM, "bfloat16")  # the mixed-precision hparam
  assert benchmark.precision(hp) == "bf16"


def test_streaming_latency_is_measured_per_chunk_with_the_state_carried():
  import keras

  from t2t_lite import registry
  from t2t_lite.benchmark import stream_latency
  hp = registry.hparams("deep_speech2_streaming_tiny")
  hp.target_vocab_size = 30
  keras.utils.set_random_seed(1)
  model = registry.model("deep_speech2")(hp)
  model.build_from_features(model.dummy_features())
  result = stream_latency(model, hp, chunk_frames=17, repeats=4)
  assert result["stream_chunk_frames"] == 17
  assert 0 < result["stream_ms_per_chunk"] <= result["stream_ms_per_chunk_max"]
  assert issubclass(registry.model("deep_speech2"), Streaming)
  assert registry.model("deep_speech2").streams(hp)
  assert not registry.model("deep_speech2").streams(registry.hparams("deep_speech2_tiny"))


def test_training_memory_is_reported_per_parameter():
  import tensorflow as tf
  model_cls = registry.model("transformer")
  hp = _hparams("transformer_tiny", 64, model_cls).parse(
      "hidden_size=16,filter_size=32,num_heads=2,num_hidden_layers=1")
  shape = BenchmarkShape(4, 8, 8, 64, 4)
  bench = benchmark.TrainBench(model_cls, hp, model_cls.benchmark_features(hp, shape),
                               tf.distribute.get_strategy())
  bench.speed(warmup=1, steps=1)
  m = bench.memory()
  params = sum(v.shape.num_elements() for v in bench.model.trainable_variables)
  assert m["weights_mib"] == pytest.approx(4 * params / 2 ** 20, abs=0.1)
  assert m["optimizer_state_mib"] == pytest.approx(2 * m["weights_mib"], abs=0.1)  # Adam
  if memory.allocated_bytes() is None:  # this machine's allocator keeps no statistics
    assert m["needed_bytes_per_param"] is None
  else:
    assert m["needed_bytes_per_param"] >= 16  # weights, gradients, two moments, activations
  assert m["peak_rss_mib"] > 0 and m["rss_bytes_per_param"] is not None


def test_an_ensemble_is_timed_with_the_tf_engine_only():
  settings = benchmark.BenchmarkOptions(ensemble=2, decode_engine="ctranslate2",
                                        decode_batch=0)
  with pytest.raises(UserError, match="--ensemble times t2t_lite's ensemble search"):
    settings.check(registry.model("transformer"), 1)
