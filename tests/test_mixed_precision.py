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


def test_auto_becomes_the_machines_choice_or_the_resumed_runs(monkeypatch, tmp_path):
  import pytest

  from t2t_lite import machine
  monkeypatch.setenv(machine.CACHE_ENV, str(tmp_path))
  monkeypatch.setattr(machine, "probe_bf16_speedup", lambda: 3.0)
  logs = []
  hp = registry.hparams("transformer_tiny").parse("activation_dtype=auto")
  with pytest.raises(ValueError, match="must be resolved"):
    mixed_precision.activation_dtype(hp)
  assert mixed_precision.resolve_auto(hp, logs.append) == "bfloat16"
  assert hp.activation_dtype == "auto" and "auto -> bfloat16" in logs[0]  # hp as it was
  resumed = registry.hparams("transformer_tiny").parse("activation_dtype=auto")
  assert mixed_precision.resolve_auto(resumed, logs.append, run_dtype="float32") == "float32"
  assert "the run being resumed" in logs[-1]
  fixed = registry.hparams("transformer_tiny").parse("activation_dtype=float16")
  assert mixed_precision.resolve_auto(fixed, logs.append) == "float16" and len(logs) == 2
