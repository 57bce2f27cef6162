"""Run provenance: what produced a run, recorded in its run.json at every start.

Each start of training (the first and every resume) appends one entry to run.json's
"starts": the command line, the t2t_lite version (and the git commit, with whether the
checkout had uncommitted changes, when t2t_lite runs from a checkout), TensorFlow, Keras
and Python versions, the host, the start time, and a fingerprint of every data split the
run reads (shards, records, bytes and the SHA-256 of the split's manifest, which names
every shard's checksum). A result can then be traced to the code and data behind it.
"""
import datetime
import os
import platform
import socket
import subprocess
import sys

import keras
import tensorflow as tf

import t2t_lite
from t2t_lite.data import manifest


def _git(source_dir, *args):
  """`git args` in source_dir's checkout; None when it is not one (an installed wheel) or
  git is missing."""
  try:
    out = subprocess.run(["git", "-C", source_dir, *args], capture_output=True, text=True,
                         timeout=10, check=True)
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip()


def code_version() -> dict:
  """t2t_lite's version, and its git commit when it runs from a checkout."""
  package_dir = os.path.dirname(os.path.abspath(t2t_lite.__file__))
  source_dir = os.path.dirname(package_dir)
  out = {"version": t2t_lite.__version__, "path": package_dir, "git_commit": None,
         "git_dirty": None}
  if os.path.exists(os.path.join(source_dir, ".git")):  # a directory, or a worktree's file
    out["git_commit"] = _git(source_dir, "rev-parse", "HEAD")
    status = _git(source_dir, "status", "--porcelain", "--untracked-files=no")
    out["git_dirty"] = None if status is None else bool(status)
  return out


def data_fingerprints(problem, data_dir, splits) -> dict:
  """{split: fingerprint}; a problem with several shard sets (a mixture's members):
  {split: {set name: fingerprint}}."""
  names = problem.shard_sets()
  if len(names) == 1:
    return {split: manifest.fingerprint(data_dir, names[0], split) for split in splits}
  return {split: {name: manifest.fingerprint(data_dir, name, split) for name in names}
          for split in splits}


def collect(problem, data_dir, splits, **extra) -> dict:
  """One "starts" entry of run.json; `extra` adds run facts (e.g. the strategy)."""
  return {
      "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
      "command": list(sys.argv),
      "cwd": os.getcwd(),
      "host": socket.gethostname(),
      "pid": os.getpid(),
      "t2t_lite": code_version(),
      "tensorflow": tf.__version__,
      "keras": keras.__version__,
      "python": platform.python_version(),
      "platform": platform.platform(),
      "data_dir": os.path.abspath(data_dir),
      "data": data_fingerprints(problem, data_dir, splits),
      **extra,
  }
