"""--xla (jit_compile): the compiled train step computes what the uncompiled one does."""
import numpy as np
import pytest
import tensorflow as tf

from tests.training.tiny_step import iterator, make_step, mean_loss, random_batch


def _train(overrides, jit_compile, batches):
  model, step = make_step(overrides, jit_compile=jit_compile)
  it = iterator(batches)
  losses = [mean_loss(step.run(it, tf.constant(2))) for _ in range(2)]
  return losses, [v.numpy() for v in model.trainable_variables], step


@pytest.mark.parametrize("accumulation", [
    1, pytest.param(2, marks=pytest.mark.slow)])
def test_compiled_step_matches_uncompiled(accumulation):
  rng = np.random.default_rng(1)
  # Fixed shapes: XLA compiles once per distinct batch shape.
  batches = [random_batch(rng, 8, 7, 6), random_batch(rng, 8, 7, 6)]
  overrides = f"gradient_accumulation_steps={accumulation},clip_grad_norm=1.0"
  plain = _train(overrides, False, batches)
  compiled = _train(overrides, True, batches)
  np.testing.assert_allclose(compiled[0], plain[0], rtol=1e-4)
  for a, b in zip(compiled[1], plain[1]):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
  assert int(compiled[2].global_step.numpy()) == 4


def test_compiled_step_with_dropout_runs_tensorflow_dropout_ops():
  # dropout_kernel=fused has no XLA kernel: a jit-compiled step traces TensorFlow's ops.
  rng = np.random.default_rng(2)
  losses, _, step = _train("layer_prepostprocess_dropout=0.1,relu_dropout=0.1,"
                           "attention_dropout=0.1,dropout_kernel=fused", True,
                           [random_batch(rng, 8, 7, 6)])
  assert np.isfinite(losses).all() and int(step.global_step.numpy()) == 4
