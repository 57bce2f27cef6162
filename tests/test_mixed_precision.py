"""activation_dtype picks the Keras dtype policy of the layers built in policy_scope."""
import keras

from t2t_lite import mixed_precision, registry


def test_policy_scope_sets_and_restores_the_policy():
  hp = registry.hparams("transformer_tiny").parse("activation_dtype=bfloat16")
  with mixed_precision.policy_scope(hp):
    layer = keras.layers.Dense(2)
  assert (layer.compute_dtype, layer.variable_dtype) == ("bfloat16", "float32")
  assert keras.layers.Dense(2).compute_dtype == "float32"  # restored
  assert not mixed_precision.uses_loss_scaling(hp)
  assert mixed_precision.uses_loss_scaling(hp.parse("activation_dtype=float16"))
