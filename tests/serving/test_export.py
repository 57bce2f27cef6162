"""Reduced-precision copies of a model for 16-bit SavedModels: every weight in 16 bits and
the same predictions; a model that cannot compute in 16 bits is refused in one line."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.capabilities import BenchmarkShape
from t2t_lite.errors import UserError
from t2t_lite.search import Search
from t2t_lite.serving import export


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_a_16_bit_copy_holds_the_rounded_weights_and_decodes_alike(dtype):
  hp = registry.hparams("transformer_tiny")
  hp.override_from_dict({"hidden_size": 32, "filter_size": 64, "input_vocab_size": 20,
                         "target_vocab_size": 20})
  keras.utils.set_random_seed(2)
  model = registry.model("transformer")(hp)
  model.build_from_features(model.dummy_features())
  copy = export.with_dtype(model, dtype)
  assert export.with_dtype(model, "float32") is model
  assert {v.dtype for v in copy.trainable_variables} == {dtype}
  for v32, v16 in zip(model.trainable_variables, copy.trainable_variables):
    np.testing.assert_array_equal(tf.cast(tf.cast(v32, dtype), tf.float32),
                                  tf.cast(v16, tf.float32))
  inputs = tf.constant(np.random.default_rng(0).integers(2, 20, (3, 6)), tf.int32)
  features = {"inputs": inputs, "targets": inputs}
  np.testing.assert_allclose(tf.nn.softmax(copy(features)).numpy(),
                             tf.nn.softmax(model(features)).numpy(), atol=0.05)
  ids, scores = copy.predict({"inputs": inputs}, Search(beam_size=2, extra_length=3))
  assert ids.dtype == tf.int32 and scores.dtype == tf.float32


def test_a_model_that_does_not_build_in_16_bits_is_refused():
  cls = registry.model("deep_speech2")
  hp = registry.hparams("deep_speech2_tiny")
  cls.set_benchmark_vocab(hp, 30)
  model = cls(hp)
  model.build_from_features(cls.benchmark_features(hp, BenchmarkShape(1, 20, 3, 30, 20)))
  with pytest.raises(UserError, match="model deep_speech2 does not build with bfloat16"):
    export.with_dtype(model, "bfloat16")
