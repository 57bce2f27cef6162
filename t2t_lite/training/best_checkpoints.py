"""The best checkpoints of a run on a real eval metric, kept in OUTPUT_DIR/best/.

An EvaluationListener: after each evaluation of train_and_evaluate, the checkpoint just
evaluated joins OUTPUT_DIR/best/ when it ranks among the `keep` best by --best_metric, and
the one it displaces leaves. The rolling checkpoints of OUTPUT_DIR (--keep_checkpoint_max)
never touch these. OUTPUT_DIR/best/ reads as a run of its own (run.json and hparams.json
are copied there), and t2t-decoder, t2t-exporter and t2t-avg-checkpoints take
--checkpoint=best.

    OUTPUT_DIR/best/best.json        {"metric": "bleu", "higher_is_better": true,
                                      "checkpoints": [{"step": 2000, "bleu": 31.2,
                                                       "path": "model.ckpt-2000"}, ...]}
    OUTPUT_DIR/best/checkpoint       TensorFlow's index: the best one first
    OUTPUT_DIR/best/model.ckpt-2000.index, .data-*

best.json is the record (written atomically, after the files it lists). An evaluation of
step S first drops entries of steps >= S: they belong to a timeline a resumed run left (it
restored an older checkpoint), or to S itself, evaluated again after a restart.
"""
import json
import os
import shutil

import tensorflow as tf

from t2t_lite.errors import UserError
from t2t_lite.training import run_dir
from t2t_lite.training.trainer_options import EvaluationListener
from t2t_lite.training.watched_metric import WatchedMetric

BEST_DIR = "best"
RECORD = "best.json"
# Copied beside the checkpoints, so OUTPUT_DIR/best reads as a run.
RUN_FILES = ("run.json", "hparams.json", "config.gin", "decode.json")


def best_dir(output_dir):
  return os.path.join(output_dir, BEST_DIR)


def read_record(output_dir):
  """best.json of a run ({} when it keeps no best checkpoints)."""
  path = os.path.join(best_dir(output_dir), RECORD)
  if not tf.io.gfile.exists(path):
    return {}
  return run_dir.read_json(
      path, f"delete {best_dir(output_dir)} to start the record afresh")


def best_checkpoints(output_dir):
  """Paths of the run's kept best checkpoints, best first."""
  record = read_record(output_dir)
  paths = [os.path.join(best_dir(output_dir), e["path"])
           for e in record.get("checkpoints", [])]
  if not paths:
    raise UserError(f"{output_dir} holds no best checkpoints: train with --best_metric "
                    "(and --schedule=train_and_evaluate) to keep them")
  return paths


def _files(prefix):
  """A checkpoint's files, the index last (a reader needs it, so it goes in last)."""
  files = sorted(tf.io.gfile.glob(prefix + ".data-*"))
  return files + [prefix + ".index"]


def _link_or_copy(source, target):
  if "://" not in source and "://" not in target:
    try:
      if os.path.exists(target):
        os.remove(target)
      os.link(source, target)  # free: the rolling checkpoint's deletion keeps this one
      return
    except OSError:
      pass  # another file system: copy
  tf.io.gfile.copy(source, target, overwrite=True)


def _remove(prefix):
  for path in tf.io.gfile.glob(prefix + ".*"):
    tf.io.gfile.remove(path)


class BestCheckpoints(EvaluationListener):
  """Keeps the `keep` best checkpoints by `metric` in OUTPUT_DIR/best/."""

  def __init__(self, metric: WatchedMetric, keep: int, output_dir: str, log=print):
    self.metric, self.keep, self.output_dir, self.log = metric, keep, output_dir, log
    self.directory = best_dir(output_dir)

  def after_evaluation(self, trainer, step, results):
    value = self.metric.value(results)
    source = os.path.join(self.output_dir, f"model.ckpt-{step}")
    if not tf.io.gfile.exists(source + ".index"):
      self.log(f"WARNING: {source} is gone; step {step} cannot join the best checkpoints")
      return None
    record = read_record(self.output_dir)
    if record and record.get("metric") != self.metric.name:
      raise UserError(f"{self.directory} keeps the best checkpoints by "
                      f"{record.get('metric')}, not {self.metric.name}; move it away to "
                      "start a record by the new metric")
    earlier = [e for e in record.get("checkpoints", []) if e["step"] < step]
    ranked = self._rank(earlier + [{"step": step, self.metric.name: value,
                                    "path": f"model.ckpt-{step}"}])
    kept = ranked[:self.keep]
    tf.io.gfile.makedirs(self.directory)
    if any(e["step"] == step for e in kept):
      for path in _files(source):
        _link_or_copy(path, os.path.join(self.directory, os.path.basename(path)))
      if kept[0]["step"] == step:
        self.log(f"best {self.metric.name} so far: {value:.4f} at step {step} "
                 f"({os.path.join(self.directory, kept[0]['path'])})")
    self._write_record(kept)
    kept_paths = {e["path"] for e in kept}
    for entry in record.get("checkpoints", []):  # displaced, or from an abandoned timeline
      if entry["path"] not in kept_paths:
        _remove(os.path.join(self.directory, entry["path"]))
    return None

  def _rank(self, entries):
    """Best first; among equal values the earlier step."""
    name, sign = self.metric.name, (-1.0 if self.metric.higher_is_better else 1.0)
    return sorted(entries, key=lambda e: (_nan_last(sign * e[name]), e["step"]))

  def _write_record(self, kept):
    record = {"metric": self.metric.name, "higher_is_better": self.metric.higher_is_better,
              "checkpoints": kept}
    run_dir.write_atomic(os.path.join(self.directory, RECORD),
                         json.dumps(record, indent=2) + "\n")
    paths = "".join(f'all_model_checkpoint_paths: "{e["path"]}"\n' for e in kept)
    run_dir.write_atomic(os.path.join(self.directory, "checkpoint"),
                         f'model_checkpoint_path: "{kept[0]["path"]}"\n{paths}')
    for name in RUN_FILES:
      path = os.path.join(self.output_dir, name)
      if tf.io.gfile.exists(path):
        shutil.copyfile(path, os.path.join(self.directory, name))


def _nan_last(x):
  return float("inf") if x != x else x
