"""CheckpointKeeper: saves, restores the newest readable checkpoint, skips damaged ones,
keeps at most max_to_keep, and refuses a checkpoint of another model."""
import os

import pytest
import tensorflow as tf

from t2t_lite.errors import UserError
from t2t_lite.training.checkpoints import CheckpointKeeper


def _keeper(directory, value=0.0, shape=(2,), max_to_keep=2, logs=None):
  state = tf.Variable(tf.fill(shape, value))
  keeper = CheckpointKeeper(tf.train.Checkpoint(state=state), str(directory), max_to_keep,
                            log=(logs.append if logs is not None else lambda m: None))
  return keeper, state


def test_save_restore_and_max_to_keep(tmp_path):
  keeper, state = _keeper(tmp_path)
  for step in (1, 2, 3):
    state.assign([step, step])
    keeper.save(step)
  assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".index")) == \
      ["model.ckpt-2.index", "model.ckpt-3.index"]
  again, restored = _keeper(tmp_path)
  assert again.restore().endswith("model.ckpt-3")
  assert restored.numpy().tolist() == [3.0, 3.0]
  assert _keeper(tmp_path / "empty")[0].restore() is None


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path):
  keeper, state = _keeper(tmp_path)
  for step in (1, 2):
    state.assign([step, step])
    keeper.save(step)
  data = [f for f in os.listdir(tmp_path) if f.startswith("model.ckpt-2.data")][0]
  with open(tmp_path / data, "r+b") as f:
    f.truncate(3)
  logs = []
  again, restored = _keeper(tmp_path, logs=logs)
  assert again.restore().endswith("model.ckpt-1")
  assert restored.numpy().tolist() == [1.0, 1.0]
  assert any("unreadable" in line for line in logs)


def test_a_checkpoint_of_another_model_is_a_user_error(tmp_path):
  keeper, _ = _keeper(tmp_path)
  keeper.save(1)
  other = CheckpointKeeper(tf.train.Checkpoint(other=tf.Variable(1.0)), str(tmp_path), 2,
                           log=lambda m: None)
  with pytest.raises(UserError, match="does not match this model"):
    other.restore()
