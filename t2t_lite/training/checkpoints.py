"""Checkpoints that survive crashes, corrupt files and full disks.

TensorFlow writes a checkpoint's files first and updates the `checkpoint` index file last,
so a crash while saving leaves the previous checkpoint as the latest. A checkpoint that is
listed but unreadable (a truncated file, a disk that filled up) is skipped on restore with
a warning, falling back to the one before it.
"""
import os

import tensorflow as tf

from t2t_lite.errors import UserError

# What reading a truncated or damaged checkpoint raises, depending on where it is cut.
_RESTORE_ERRORS = (tf.errors.OpError, ValueError, IndexError, KeyError, EOFError)
WRITE_ERRORS = (tf.errors.ResourceExhaustedError, tf.errors.UnknownError,
                 tf.errors.InternalError, tf.errors.PermissionDeniedError, OSError)


class CheckpointKeeper:

  def __init__(self, checkpoint, directory, max_to_keep, log=print, optional=None):
    """Saves `checkpoint`; a restore must find every object of it. `optional`
    ({name: trackable}) is saved with it too but restored only when a checkpoint holds it:
    state a resumed run may add, e.g. an evaluation listener's (early stopping turned on
    for a run that trained without it)."""
    self._strict = None
    self._optional = None
    if optional:
      self._strict = checkpoint
      self._optional = tf.train.Checkpoint(**optional)
      checkpoint = tf.train.Checkpoint(**_children(checkpoint), **optional)
    self.checkpoint = checkpoint
    self.directory = directory
    self.log = log
    # max_to_keep <= 0 keeps every checkpoint (Estimator's meaning of 0).
    self.manager = tf.train.CheckpointManager(
        checkpoint, directory, max_to_keep=max_to_keep if max_to_keep > 0 else None,
        checkpoint_name="model.ckpt")

  def candidates(self):
    """Checkpoint paths, newest first (from the index file, then any stray ones)."""
    paths = list(reversed(self.manager.checkpoints))
    latest = tf.train.latest_checkpoint(self.directory)
    if latest and latest not in paths:
      paths.insert(0, latest)
    return paths

  def restore(self, path=None, partial=False):
    """Restores `path`, or the newest readable checkpoint. Returns the path or None."""
    for candidate in ([path] if path else self.candidates()):
      try:
        self._restore(candidate, partial)
        return candidate
      except _RESTORE_ERRORS as e:
        if path:
          raise UserError(f"checkpoint {path} cannot be restored: {_first_line(e)}") from None
        self.log(f"WARNING: checkpoint {candidate} is unreadable ({_first_line(e)}); "
                 "falling back to the previous one")
    if self.candidates():
      raise UserError(f"no readable checkpoint in {self.directory}; move the damaged "
                      "model.ckpt-* files away to start over")
    return None

  def try_restore(self, path, partial=False):
    """Restores `path`; False (with a warning) when it is unreadable. A checkpoint of
    another model is still an error."""
    try:
      self._restore(path, partial)
      return True
    except _RESTORE_ERRORS as e:
      self.log(f"WARNING: checkpoint {path} is unreadable ({_first_line(e)})")
      return False

  def _restore(self, path, partial):
    try:
      status = (self._strict or self.checkpoint).restore(path)
      if partial:
        status.expect_partial()
      else:
        status.assert_existing_objects_matched()
      if self._optional is not None:
        status.expect_partial()  # the optional values are restored next
        self._optional.restore(path).expect_partial()
    except AssertionError as e:
      raise UserError(f"checkpoint {path} does not match this model ({_first_line(e)}); it "
                      "was written by another model, other hparams or an older t2t_lite: "
                      "use another --output_dir") from None

  def save(self, step):
    try:
      return self.manager.save(checkpoint_number=step)
    except WRITE_ERRORS as e:
      self._remove_partial(step)
      previous = tf.train.latest_checkpoint(self.directory)
      kept = f"; {previous} is intact and a rerun resumes from it" if previous else ""
      raise UserError(f"could not write the checkpoint of step {step} to {self.directory} "
                      f"({_first_line(e)}): free disk space there{kept}") from None

  def _remove_partial(self, step):
    prefix = os.path.join(self.directory, f"model.ckpt-{step}")
    for path in tf.io.gfile.glob(prefix + ".*") + tf.io.gfile.glob(prefix + "_temp*"):
      try:
        if tf.io.gfile.isdir(path):
          tf.io.gfile.rmtree(path)
        else:
          tf.io.gfile.remove(path)
      except tf.errors.OpError:
        pass


def _children(checkpoint):
  """The named objects of a tf.train.Checkpoint (its constructor's keyword arguments)."""
  return {name: ref for name, ref in checkpoint._trackable_children().items()
          if name != "save_counter"}


def _first_line(error):
  text = getattr(error, "message", None) or str(error)
  return text.strip().splitlines()[0][:200] if text.strip() else type(error).__name__
