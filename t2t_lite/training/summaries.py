"""The run's TensorBoard summaries: training scalars in output_dir, evaluations' in
output_dir/eval; a full disk is a one-line error."""
import os

import tensorflow as tf

from t2t_lite.errors import UserError
from t2t_lite.training.checkpoints import WRITE_ERRORS


class Summaries:

  def __init__(self, runner, output_dir):
    self.runner, self.output_dir = runner, output_dir
    self._writers = {}

  def writer(self, name):
    """The writer of `name` ("train": output_dir itself), made on first use."""
    if name not in self._writers:
      path = self.output_dir if name == "train" else os.path.join(self.output_dir, name)
      self._writers[name] = self.runner.summary_writer(path)
    return self._writers[name]

  def write(self, name, step, values):
    """Writes and flushes scalars (name -> value) at `step`."""
    writer = self.writer(name)
    try:
      with writer.as_default(step=step):
        for scalar, value in values.items():
          tf.summary.scalar(scalar, value)
      writer.flush()
    except WRITE_ERRORS as e:
      raise UserError(f"could not write TensorBoard summaries to {self.output_dir} "
                      f"({str(e).strip().splitlines()[0][:120]}): free disk space there; the "
                      "last checkpoint is intact and a rerun resumes from it") from None
