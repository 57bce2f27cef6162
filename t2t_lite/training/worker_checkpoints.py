"""Checkpoints of a multi_worker_mirrored run: the model once, each task's input position.

Every task saves at the same steps (its runner agrees on them). The model, optimizer and
step go into OUTPUT_DIR/model.ckpt-N, written by the chief; the other tasks write the same
save into a scratch folder that is then deleted (saving mirrored variables may need every
task's collectives). The position of the training input differs from task to task (each
reads its own input pipeline, with its own shuffle buffer), so each task also keeps its
own, beside the model: OUTPUT_DIR/train_input/rank-R-of-N/model.ckpt-N, where R of N names
the pipeline (the shard of the data) the task reads.

On restore the tasks agree on the newest checkpoint for which every task has its input
position and every task could read both: a task that died between the chief's save and
its own costs one checkpoint, never a mismatch. A cluster of another size (its pipelines
read other shards) finds no positions for its size: it restores the model and starts the
training input afresh, and says so.
"""
import os
import re
import shutil
import tempfile
from collections.abc import Callable

import tensorflow as tf

from t2t_lite.training.checkpoints import CheckpointKeeper

INPUT_DIR = "train_input"


def input_dir(output_dir: str, rank: int, num_workers: int) -> str:
  return os.path.join(output_dir, INPUT_DIR, f"rank-{rank}-of-{num_workers}")


def step_of(path: str) -> int:
  return int(re.search(r"-(\d+)$", path).group(1))


class WorkerKeeper:
  """A CheckpointKeeper for one task of a multi_worker_mirrored run (see the module doc).

  gather(int) -> [that int of every task], a collective every task calls in step."""

  def __init__(self, state: dict, position, output_dir: str, max_to_keep: int, log,
               gather: Callable[[int], list[int]], is_chief: bool, rank: int,
               num_workers: int, optional: dict | None = None):
    self.model = CheckpointKeeper(tf.train.Checkpoint(**state), output_dir, max_to_keep, log,
                                  optional=optional)
    self.input = CheckpointKeeper(tf.train.Checkpoint(train_input=position),
                                  input_dir(output_dir, rank, num_workers), max_to_keep, log)
    self.checkpoint = self.model.checkpoint
    self.log, self.gather, self.is_chief = log, gather, is_chief

  def candidates(self):
    return self.model.candidates()

  def save(self, step: int) -> str:
    """Saves this task's input position, then the model (the chief's is kept)."""
    self.input.save(step)
    if self.is_chief:
      return self.model.save(step)
    scratch = tempfile.mkdtemp(prefix="t2t-worker-checkpoint-")
    try:
      CheckpointKeeper(self.checkpoint, scratch, 1, self.log).save(step)
    finally:
      shutil.rmtree(scratch, ignore_errors=True)
    return f"(the chief's checkpoint of step {step})"

  def _input_path(self, step):
    path = os.path.join(self.input.directory, f"model.ckpt-{step}")
    return path if tf.io.gfile.exists(path + ".index") else None

  def _everyone(self, ok: bool) -> bool:
    return all(self.gather(int(ok)))

  def restore(self, path: str | None = None) -> str | None:
    """Restores `path` (or the newest checkpoint every task can restore with its input
    position) on every task; returns its path, or None when there is none."""
    candidates = [path] if path else self.candidates()
    for candidate in candidates:
      if not self._everyone(self._input_path(step_of(candidate)) is not None):
        continue
      ok = self.model.try_restore(candidate) and \
          self.input.try_restore(self._input_path(step_of(candidate)))
      if self._everyone(ok):
        return candidate
      self.log(f"WARNING: a task could not read checkpoint {candidate} or its input "
               "position; trying the previous one")
    if not candidates:
      return None
    # No checkpoint with every task's input position: a cluster of another size, or
    # positions deleted. The model still resumes; the input starts afresh.
    restored = self.model.restore(path)
    self.log(f"WARNING: {restored} holds no input position of this task for a cluster of "
             "this size (the input shards differ); this task's training input starts "
             "afresh")
    return restored
