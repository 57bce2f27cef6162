"""Non-finite losses, damaged checkpoints and data, full disks (in-process)."""
import os

import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.errors import UserError
from t2t_lite.models.transformer import Transformer
from tests.training.test_trainer import _trainer, data_dir  # noqa: F401 (fixture)

# Outside the model, so that a rollback to a checkpoint does not cure the poisoning.
POISONED = tf.Variable(0, trainable=False, dtype=tf.int32)


class PoisonedTransformer(Transformer):
  """A Transformer whose loss is NaN for the next POISONED steps."""

  def training_loss_sums(self, features):
    loss, weight = super().training_loss_sums(features)
    bad = POISONED > 0
    POISONED.assign_sub(tf.cast(bad, tf.int32))
    return tf.where(bad, tf.constant(float("nan")), loss), weight


def _poisoned_trainer(data_dir, out, steps, **kwargs):  # noqa: F811
  POISONED.assign(0)
  trainer, logs = _trainer(data_dir, out, steps=steps, **kwargs)
  # Rebuild the trainer around the poisoned model class.
  from t2t_lite.training.trainer import Trainer, TrainerOptions
  problem = registry.problem("algorithmic_reverse_decimal40")
  return Trainer(problem, PoisonedTransformer, trainer.hparams, out, data_dir,
                 TrainerOptions(train_steps=steps, eval_steps=2, local_eval_frequency=3,
                                log_step_count_steps=1, seed=1, **kwargs),
                 log=logs.append), logs


def test_nonfinite_steps_are_skipped_without_touching_weights(data_dir, tmp_path):  # noqa: F811
  trainer, logs = _poisoned_trainer(data_dir, str(tmp_path / "run"), steps=8,
                                    max_nonfinite_steps=5)
  trainer.restore()
  trainer.train(until_step=3)
  weights = [v.numpy().copy() for v in trainer.model.trainable_variables]
  iterations = int(trainer.optimizer.iterations.numpy())
  POISONED.assign(2)
  trainer.train(until_step=5)
  # Steps 4 and 5 were poisoned: no update, the step counter moves on.
  for a, b in zip(weights, trainer.model.trainable_variables):
    np.testing.assert_array_equal(a, b.numpy())
  assert int(trainer.optimizer.iterations.numpy()) == iterations
  assert int(trainer.global_step.numpy()) == 5
  assert any("skipped" in l and "non-finite" in l for l in logs)
  trainer.train()
  assert any(not np.array_equal(a, b.numpy())
             for a, b in zip(weights, trainer.model.trainable_variables))


def test_persistent_nonfinite_loss_rolls_back_then_stops(data_dir, tmp_path):  # noqa: F811
  out = str(tmp_path / "run")
  trainer, logs = _poisoned_trainer(data_dir, out, steps=40, max_nonfinite_steps=2)
  trainer.restore()
  trainer.train(until_step=3)  # a checkpoint to roll back to
  POISONED.assign(1000)
  with pytest.raises(UserError, match="not finite for 2 steps in a row"):
    trainer.train()
  assert sum("rolled back to" in l for l in logs) == 3
  assert tf.train.latest_checkpoint(out).endswith("model.ckpt-3")


def test_unreadable_latest_checkpoint_falls_back_to_the_previous(data_dir, tmp_path):  # noqa: F811
  out = str(tmp_path / "run")
  trainer, _ = _trainer(data_dir, out, steps=6)
  trainer.restore()
  trainer.train()
  data = [f for f in os.listdir(out) if f.startswith("model.ckpt-6.data")][0]
  with open(os.path.join(out, data), "r+b") as f:
    f.truncate(100)
  again, logs = _trainer(data_dir, out, steps=6)
  assert again.restore() == 3
  assert any("model.ckpt-6 is unreadable" in l for l in logs)


def test_disk_full_while_saving_keeps_the_previous_checkpoint(data_dir, tmp_path,  # noqa: F811
                                                              monkeypatch):
  out = str(tmp_path / "run")
  trainer, _ = _trainer(data_dir, out, steps=6)
  trainer.restore()
  trainer.train(until_step=3)

  def full(*args, **kwargs):
    raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
  monkeypatch.setattr(tf.train.CheckpointManager, "save", full)
  with pytest.raises(UserError, match="free disk space.*model.ckpt-3 is intact"):
    trainer.train()
  monkeypatch.undo()
  again, _ = _trainer(data_dir, out, steps=6)
  assert again.restore() == 3


def test_damaged_data_file_is_named(data_dir, tmp_path):  # noqa: F811
  import shutil
  damaged = tmp_path / "data"
  shutil.copytree(data_dir, damaged)
  shard = sorted(f for f in os.listdir(damaged) if "-train-" in f)[0]
  with open(damaged / shard, "r+b") as f:
    f.seek(30)
    f.write(b"\xff" * 40)
  trainer, _ = _trainer(str(damaged), str(tmp_path / "run"), steps=50)
  trainer.restore()
  with pytest.raises(UserError, match=f"data file .*{shard} is damaged"):
    trainer.train()


def test_nan_from_the_first_step_stops_even_with_frequent_saves(data_dir, tmp_path):  # noqa: F811
  out = str(tmp_path / "run")
  trainer, logs = _poisoned_trainer(data_dir, out, steps=60, max_nonfinite_steps=5)
  trainer.restore()
  trainer.train(until_step=3)
  POISONED.assign(10 ** 6)
  with pytest.raises(UserError, match="after 3 rollbacks"):
    trainer.train()  # saves every 3 steps must not reset the rollback count


def test_no_example_within_max_length_is_an_error(data_dir, tmp_path):  # noqa: F811
  trainer, _ = _trainer(data_dir, str(tmp_path / "run"), ",max_length=1")
  with pytest.raises(UserError, match="no training example fits max_length=1"):
    trainer.train()
