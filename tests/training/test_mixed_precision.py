"""activation_dtype: bfloat16 and float16 (with a dynamic loss scale) train and decode."""
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import experiment, registry
from t2t_lite.decoding.decoder import DecodeHParams, TextDecoder
from t2t_lite.errors import UserError
from t2t_lite.training import run_dir
from t2t_lite.training.trainer import Trainer, TrainerOptions
from tests.training.test_reliability import POISONED, PoisonedTransformer
from tests.training.test_trainer import _trainer, data_dir  # noqa: F401 (fixture)
from tests.training.tiny_step import iterator, make_step, mean_loss, random_batch


def test_bfloat16_trains_with_float32_variables():
  model, step = make_step("activation_dtype=bfloat16,learning_rate_constant=0.5")
  assert model.compute_dtype == "bfloat16"
  assert {v.dtype for v in model.variables if v.trainable} == {"float32"}
  batch = random_batch(np.random.default_rng(0), 16, 7, 6)
  logits = model({k: tf.constant(v) for k, v in batch.items()})
  assert logits.dtype == tf.bfloat16
  it = iterator([batch])
  losses = [mean_loss(step.run(it, tf.constant(5))) for _ in range(4)]
  assert all(np.isfinite(losses)) and losses[-1] < losses[0]
  assert int(step.nonfinite_total.numpy()) == 0


def test_bfloat16_run_trains_and_decodes(data_dir, tmp_path):  # noqa: F811
  out = str(tmp_path / "run")
  trainer, logs = _trainer(data_dir, out, ",activation_dtype=bfloat16", steps=4)
  trainer.restore()
  trainer.train()
  assert not any("non-finite" in l for l in logs)
  # The decoder rebuilds the model from hparams.json, in the dtype it was trained in.
  problem = registry.problem("algorithmic_reverse_decimal40")
  hparams = run_dir.read_hparams(out)
  decoder = TextDecoder.from_checkpoint(
      problem, registry.model("transformer"), hparams, data_dir,
      tf.train.latest_checkpoint(out), DecodeHParams(beam_size=2))
  assert decoder.model.compute_dtype == "bfloat16"
  outputs = decoder.decode_ids([[3, 4, 5, 1], [6, 1]])
  assert len(outputs) == 2 and all(isinstance(i, int) for o in outputs for i in o)


def test_float16_overflow_is_a_loss_scale_event_not_a_failure(data_dir, tmp_path):  # noqa: F811
  # A scale of 2^24 overflows float16 gradients for the first steps; each overflow halves
  # it. More overflows in a row than max_nonfinite_steps must not roll anything back.
  out = str(tmp_path / "run")
  trainer, logs = _trainer(data_dir, out, ",activation_dtype=float16,"
                           "mixed_precision_optimizer_init_loss_scale=16777216", steps=12,
                           max_nonfinite_steps=2)
  trainer.restore()
  before = [v.numpy().copy() for v in trainer.model.trainable_variables]
  trainer.train()
  scale = float(trainer.step_fn.loss_scale.scale.numpy())
  updates = int(trainer.optimizer.iterations.numpy())
  assert scale <= 2.0 ** 24 / 2 ** 3  # at least 3 overflows...
  assert 0 < updates <= 12 - 3  # ...whose updates were skipped, and later steps trained
  assert int(trainer.step_fn.nonfinite_total.numpy()) == 0
  assert not any("non-finite" in l or "rolled back" in l for l in logs)
  assert all(v.dtype == "float32" for v in trainer.model.trainable_variables)
  assert any(not np.array_equal(a, b.numpy())
             for a, b in zip(before, trainer.model.trainable_variables))
  # The scale is checkpointed: a resumed run continues with it.
  again, _ = _trainer(data_dir, out, ",activation_dtype=float16,"
                      "mixed_precision_optimizer_init_loss_scale=16777216", steps=12)
  assert again.restore() == 12
  assert float(again.step_fn.loss_scale.scale.numpy()) == scale

  # A NaN loss is still a failure under float16 (not an overflow) and leaves the scale.
  POISONED.assign(0)
  poisoned = Trainer(registry.problem("algorithmic_reverse_decimal40"), PoisonedTransformer,
                     again.hparams, out, data_dir, TrainerOptions(
                         train_steps=14, local_eval_frequency=100, log_step_count_steps=1,
                         seed=1, max_nonfinite_steps=5), log=logs.append)
  poisoned.restore()
  POISONED.assign(2)
  poisoned.train()
  assert int(poisoned.step_fn.nonfinite_total.numpy()) == 2
  assert float(poisoned.step_fn.loss_scale.scale.numpy()) == scale


def test_unknown_activation_dtype_is_a_user_error():
  with pytest.raises(UserError, match="activation_dtype='float8' must be one of float32"):
    experiment.resolve("algorithmic_reverse_decimal40", "transformer", "transformer_tiny",
                       "activation_dtype=float8")
  with pytest.raises(UserError, match="gradient_accumulation_steps=0 must be >= 1"):
    experiment.resolve("algorithmic_reverse_decimal40", "transformer", "transformer_tiny",
                       "gradient_accumulation_steps=0")
