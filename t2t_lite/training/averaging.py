"""Checkpoint averaging (Tensor2Tensor's avg_checkpoints): the mean of the model weights
of several checkpoints, which usually decodes better than any one of them.

Works on the checkpoint files, whatever the model: every floating-point tensor under
`model/` (and the weights' moving averages under `ema/`, when the run keeps them) is
averaged; everything else (the step, the optimizer, the object graph) is
copied from the newest checkpoint, so the result restores like any other checkpoint.
"""
import os
import shutil

import numpy as np
import tensorflow as tf

from t2t_lite import options
from t2t_lite.errors import UserError
from t2t_lite.options import setting
from t2t_lite.training import best_checkpoints as best

_OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"


@options.group("Averaging")
class AveragingOptions(options.Options):
  """t2t-avg-checkpoints' settings."""
  output_dir: str | None = setting(None, "The run whose checkpoints to average.")
  n: int = setting(8, "How many of the newest checkpoints to average.", minimum=1)
  checkpoint: str = setting("latest", "Which checkpoints: the n latest, or the n best by "
                            "the run's --best_metric (OUTPUT_DIR/best/).",
                            choices=("latest", "best"))
  averaged_dir: str | None = setting(None, "Where to write the average (default: "
                                     "OUTPUT_DIR/averaged, or OUTPUT_DIR/averaged_best).")


def last_checkpoints(output_dir, n):
  """The newest n checkpoints listed in output_dir's checkpoint file, oldest first."""
  state = tf.train.get_checkpoint_state(output_dir)
  if state is None or not state.all_model_checkpoint_paths:
    raise UserError(f"no checkpoints in {output_dir}; train first")
  # get_checkpoint_state has already joined relative entries with output_dir (joining
  # them again lost every checkpoint of a relative --output_dir such as runs/enxx).
  paths = [p for p in state.all_model_checkpoint_paths if tf.io.gfile.exists(p + ".index")]
  if len(paths) < n:
    raise UserError(f"--n={n} but {output_dir} holds {len(paths)} checkpoint(s); lower --n "
                    "or keep more (--keep_checkpoint_max)")
  return paths[-n:]


def _is_averaged(name, dtype):
  return name.startswith(("model/", "ema/averages/")) and dtype.is_floating


def average(paths, out_prefix):
  """Writes the average of `paths` (the last one the newest) to out_prefix; returns the
  names of the averaged tensors."""
  readers = [tf.train.load_checkpoint(p) for p in paths]
  newest = readers[-1]
  dtypes = newest.get_variable_to_dtype_map()

  def weight_shapes(reader):
    # Only the weights must match: the input position's serialized state changes size
    # from save to save (it holds whatever the input buffers held then).
    kinds = reader.get_variable_to_dtype_map()
    return {k: v for k, v in reader.get_variable_to_shape_map().items()
            if _is_averaged(k, kinds[k])}
  shapes = weight_shapes(newest)
  for path, reader in zip(paths, readers):
    if weight_shapes(reader) != shapes:
      raise UserError(f"checkpoint {path} holds other variables than {paths[-1]}; average "
                      "checkpoints of one run")
  names, tensors, averaged = [], [], []
  for name in sorted(dtypes):
    if _is_averaged(name, dtypes[name]):
      value = np.mean([r.get_tensor(name).astype(np.float64) for r in readers], axis=0)
      tensors.append(tf.constant(value.astype(dtypes[name].as_numpy_dtype)))
      averaged.append(name)
    else:
      try:
        tensors.append(tf.constant(newest.get_tensor(name)))
      except (tf.errors.OpError, ValueError, TypeError):
        continue  # e.g. an input iterator's state: not needed to decode or export
    names.append(name)
  if _OBJECT_GRAPH not in names:
    raise UserError(f"{paths[-1]} is not an object-based (TF2) checkpoint")
  tf.io.gfile.makedirs(os.path.dirname(out_prefix))
  tf.raw_ops.SaveV2(prefix=out_prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                    tensors=tensors)
  return averaged


def best_checkpoints(output_dir, n):
  """The n best checkpoints of a run (best_checkpoints.py), the best last."""
  paths = best.best_checkpoints(output_dir)
  if len(paths) < n:
    raise UserError(f"--n={n} but {best.best_dir(output_dir)} holds {len(paths)} "
                    "checkpoint(s); lower --n or keep more (--keep_best_checkpoints)")
  return list(reversed(paths[:n]))


def average_run(output_dir, n, averaged_dir=None, which="latest"):
  """Averages the last n checkpoints of a run (or, which="best", its n best) into
  averaged_dir (default OUTPUT_DIR/averaged, or averaged_best), which then reads as a run
  of its own: the decoder and exporter take --output_dir=OUTPUT_DIR/averaged. Returns the
  new checkpoint's path."""
  paths = best_checkpoints(output_dir, n) if which == "best" else last_checkpoints(output_dir, n)
  averaged_dir = averaged_dir or os.path.join(
      output_dir, "averaged_best" if which == "best" else "averaged")
  name = os.path.basename(paths[-1])
  prefix = os.path.join(averaged_dir, name)
  average(paths, prefix)
  with tf.io.gfile.GFile(os.path.join(averaged_dir, "checkpoint"), "w") as f:
    f.write(f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n')
  for meta in ("run.json", "hparams.json", "config.gin"):
    if tf.io.gfile.exists(os.path.join(output_dir, meta)):
      shutil.copyfile(os.path.join(output_dir, meta), os.path.join(averaged_dir, meta))
  return prefix
