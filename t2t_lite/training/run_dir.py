"""What an output_dir holds besides checkpoints: the run's identity and its final hparams,
and who may write it.

run.json names the problem, model and hparams set, and records each start's provenance
(provenance.py); hparams.json holds every hparam value. A rerun of the same command finds
them equal and resumes; a run of another problem or model, or with other hparams, is
refused instead of silently mixing two experiments. A training run holds the output_dir's
writer lock (writer_lock.py) while it lives: one writer per output_dir.

hparams.json files written before an hparam existed are migrated in one place
(`registered_defaults`): the run used the behaviour that the hparam's value in the run's
registered hparams set keeps.
"""
import atexit
import json
import os
import socket
import sys
import time

import tensorflow as tf

from t2t_lite import registry, writer_lock
from t2t_lite.errors import UserError
from t2t_lite.hparams_lib import HParams
from t2t_lite.training import cluster

RUN_FILE = "run.json"
HPARAMS_FILE = "hparams.json"


def write_atomic(path, text):
  # A temporary name of this process's own: every worker of a multi-worker run writes
  # run.json and hparams.json (the same text), and a shared name made one worker's rename
  # fail when another had just renamed it.
  tmp = f"{path}.tmp-{socket.gethostname()}-{os.getpid()}"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write(text)
  tf.io.gfile.rename(tmp, path, overwrite=True)


def read_json(path, remedy="restore it or use a new --output_dir"):
  """The JSON file at path; one error line saying what to do when it is not valid JSON."""
  with tf.io.gfile.GFile(path) as f:
    text = f.read()
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    raise UserError(f"{path} is not valid JSON ({e}); {remedy}") from None


def read_run(output_dir):
  path = os.path.join(output_dir, RUN_FILE)
  return read_json(path) if tf.io.gfile.exists(path) else None


def registered_defaults(run):
  """{name: value} of the run's registered hparams set ({} when it is not registered in
  this process, e.g. a --t2t_usr_dir not given)."""
  name = (run or {}).get("hparams_set")
  return registry.hparams(name).values() if name in registry.hparams_sets else {}


def _stored_hparams(output_dir, wait_secs=0):
  path = os.path.join(output_dir, HPARAMS_FILE)
  deadline = time.time() + wait_secs
  while not tf.io.gfile.exists(path) and time.time() < deadline:
    time.sleep(min(5.0, max(deadline - time.time(), 0.0)))
  if not tf.io.gfile.exists(path):
    raise UserError(f"{output_dir} holds no {HPARAMS_FILE}: it is not a t2t-trainer output_dir "
                    "(train first, or point --output_dir at a training run)")
  with tf.io.gfile.GFile(path) as f:
    return HParams.from_json(f.read())


def read_hparams(output_dir, wait_secs=0):
  """The run's hparams, migrated; waits up to wait_secs for a trainer to write them."""
  hparams = _stored_hparams(output_dir, wait_secs)
  for name, value in registered_defaults(read_run(output_dir)).items():
    if name not in hparams:
      hparams.add_hparam(name, value)
  return hparams


def check_run(output_dir, run):
  """Refuses an output_dir that holds a run of another problem or model.
  `run` is {"problem": .., "model": .., "hparams_set": ..}."""
  old_run = read_run(output_dir)
  if old_run is not None:
    differing = [k for k in ("problem", "model") if old_run.get(k) != run.get(k)]
    if differing:
      what = ", ".join(f"{k} '{old_run.get(k)}'" for k in differing)
      raise UserError(f"{output_dir} holds a run of {what}; use another --output_dir "
                      "(or delete that run)")
  return old_run


def prepare(output_dir, run, hparams):
  """Creates output_dir with run.json and hparams.json, or checks that an existing run
  matches (same problem and model, same hparams)."""
  if check_run(output_dir, run) is not None:
    old = _stored_hparams(output_dir).values()
    new = hparams.values()
    # An hparam added to the framework after the run started is no change when it holds
    # its default (what the run used without knowing it).
    defaults = registered_defaults(run)
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and not (
        k not in old and k in defaults and new.get(k) == defaults[k]))
    vocab = [k for k in changed if k in ("input_vocab_size", "target_vocab_size")]
    if vocab:
      raise UserError(f"the vocabulary in the data_dir has {new.get(vocab[0])} tokens but "
                      f"{output_dir} was trained with {old.get(vocab[0])}; train with the "
                      "data_dir (and vocabulary) the run was made with, or a new --output_dir")
    if changed:
      detail = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:5])
      raise UserError(f"{output_dir} was trained with other hparams ({detail}); use another "
                      "--output_dir to train with new values")
    return
  tf.io.gfile.makedirs(output_dir)
  write_atomic(os.path.join(output_dir, HPARAMS_FILE), hparams.to_json())
  write_atomic(os.path.join(output_dir, RUN_FILE), json.dumps(run, indent=2, sort_keys=True))


def record_start(output_dir, entry):
  """Appends one start's provenance (provenance.collect) to run.json's "starts"."""
  run = read_run(output_dir) or {}
  run.setdefault("starts", []).append(entry)
  write_atomic(os.path.join(output_dir, RUN_FILE), json.dumps(run, indent=2, sort_keys=True))


def lock_for_training(output_dir, prog="t2t-trainer"):
  """One writer per output_dir, until this process ends. The chief (or the only process)
  takes OUTPUT_DIR/writer.lock, or fails in one line naming the run that holds it; the
  other workers of a multi-worker run write nothing there and only wait until their own
  chief holds it. Evaluators and decoders read without locking."""
  key = cluster.fingerprint()
  if not cluster.is_chief():
    writer_lock.wait_for_holder(output_dir, key)
    return None

  def lost(holder):
    # Another process took the lock over (this one looked dead to it: e.g. frozen for
    # longer than writer_lock.STALE_SECS on another host). Only one may write.
    print(f"{prog}: error: the lock of {output_dir} was taken over by {holder}; stopping "
          "at once so that only one process writes there", file=sys.stderr, flush=True)
    os._exit(2)
  lock = writer_lock.WriterLock(output_dir, prog, cluster=key, on_lost=lost)
  lock.acquire()
  atexit.register(lock.release)
  return lock
