"""Checkpoint averaging: the model's float tensors are the mean of the checkpoints', the
rest comes from the newest, and the result restores like any checkpoint."""
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite.errors import UserError
from t2t_lite.training import averaging


def test_average_of_the_last_checkpoints(tmp_path):
  model = tf.Module()
  model.w = tf.Variable([0.0, 0.0])
  step = tf.Variable(0, dtype=tf.int64)
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model, step=step),
                                       str(tmp_path), 5, checkpoint_name="model.ckpt")
  for i, value in enumerate([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]], 1):
    model.w.assign(value)
    step.assign(i)
    manager.save(checkpoint_number=i)
  paths = averaging.last_checkpoints(str(tmp_path), 2)
  assert [p.rsplit("-", 1)[1] for p in paths] == ["2", "3"]
  out = str(tmp_path / "avg" / "model.ckpt-3")
  averaged = averaging.average(paths, out)
  assert averaged and all(name.startswith("model/") for name in averaged)
  tf.train.Checkpoint(model=model, step=step).read(out).assert_existing_objects_matched()
  np.testing.assert_allclose(model.w.numpy(), [4.0, 6.5])
  assert int(step.numpy()) == 3  # from the newest
  with pytest.raises(UserError, match="--n=9 but"):
    averaging.last_checkpoints(str(tmp_path), 9)


def test_a_relative_output_dir_finds_its_checkpoints(tmp_path, monkeypatch):
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=tf.Variable(1.0)),
                                       str(tmp_path / "runs" / "enxx"), 5,
                                       checkpoint_name="model.ckpt")
  for i in (1, 2):
    manager.save(checkpoint_number=i)
  monkeypatch.chdir(tmp_path)
  assert averaging.last_checkpoints("runs/enxx", 2) == ["runs/enxx/model.ckpt-1",
                                                         "runs/enxx/model.ckpt-2"]
