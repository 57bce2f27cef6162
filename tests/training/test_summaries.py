"""TensorBoard scalars: training's in output_dir, evaluations' in output_dir/eval."""
import os
import types

import tensorflow as tf

from t2t_lite.training.summaries import Summaries


def _scalars(folder):
  out = {}
  for name in os.listdir(folder):
    if not name.startswith("events.out"):
      continue
    for record in tf.data.TFRecordDataset(os.path.join(folder, name)):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        out[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
  return out


def test_scalars_go_to_the_run_and_its_eval_folder(tmp_path):
  runner = types.SimpleNamespace(summary_writer=tf.summary.create_file_writer)
  summaries = Summaries(runner, str(tmp_path))
  summaries.write("train", 3, {"loss": 2.5, "learning_rate": 0.125})
  summaries.write("eval", 3, {"accuracy": 0.75})
  summaries.write("eval", 6, {"accuracy": 0.875})
  assert summaries.writer("eval") is summaries.writer("eval")  # made once
  assert _scalars(str(tmp_path)) == {("loss", 3): 2.5, ("learning_rate", 3): 0.125}
  assert _scalars(str(tmp_path / "eval")) == {("accuracy", 3): 0.75, ("accuracy", 6): 0.875}
