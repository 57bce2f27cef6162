import json
import platform
import sys
import threading

import pytest
import tensorflow as tf

import t2t_lite
from t2t_lite import registry, writer_lock
from t2t_lite.data import manifest
from t2t_lite.errors import UserError
from t2t_lite.training import provenance, run_dir
from tests.data.test_manifest import PROBLEM, _generate

RUN = {"problem": "p", "model": "transformer", "hparams_set": "transformer_tiny"}


def test_hparams_added_since_a_run_started_resume_at_their_defaults(tmp_path):
  old = registry.hparams("transformer_tiny")
  old.del_hparam("packed_length")  # as a run.json written before packing existed
  run_dir.prepare(str(tmp_path), RUN, old)
  run_dir.prepare(str(tmp_path), RUN, registry.hparams("transformer_tiny"))  # default: fine
  changed = registry.hparams("transformer_tiny").parse("packed_length=64")
  with pytest.raises(UserError, match=r"other hparams \(packed_length: None -> 64\)"):
    run_dir.prepare(str(tmp_path), RUN, changed)


def test_each_start_records_its_provenance_in_run_json(tmp_path):
  data, out = tmp_path / "data", str(tmp_path / "run")
  _generate(data)
  run_dir.prepare(out, RUN, registry.hparams("transformer_tiny"))
  for _ in range(2):  # a start and a resume
    run_dir.record_start(out, provenance.collect(PROBLEM, str(data), ["train", "dev"],
                                                 strategy="default"))
  run = run_dir.read_run(out)
  assert {k: run[k] for k in RUN} == RUN and len(run["starts"]) == 2
  start = run["starts"][0]
  assert start["command"] == sys.argv and start["strategy"] == "default"
  assert start["tensorflow"] == tf.__version__
  assert start["python"] == platform.python_version()
  assert start["host"] and start["started"]
  assert start["t2t_lite"]["version"] == t2t_lite.__version__  # beside the commit
  # Run from this repository's checkout: the commit it was at.
  commit = start["t2t_lite"]["git_commit"]
  assert commit is None or len(commit) == 40
  assert start["data"]["train"] == {
      "files": 10, "records": 60, "bytes": sum(s.bytes for s in manifest.read(
          str(data), PROBLEM.name, "train")),
      "manifest_sha256": manifest.file_sha256(str(
          data / f"{PROBLEM.name}-train.manifest.json"))}


def test_cluster_workers_share_their_chiefs_lock_of_the_output_dir(tmp_path, monkeypatch):
  out = str(tmp_path / "run")
  cluster = {"worker": ["localhost:1", "localhost:2"]}
  monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                              "task": {"type": "worker", "index": 0}}))
  chief = run_dir.lock_for_training(out)
  try:
    with pytest.raises(UserError, match=f"{out} is in use by t2t-trainer"):
      writer_lock.WriterLock(out, "t2t-trainer").acquire()  # not of this cluster
    # Worker 1 writes nothing there: it only finds its chief's lock and goes on.
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": 1}}))
    done = threading.Event()
    threading.Thread(target=lambda: (run_dir.lock_for_training(out), done.set())).start()
    assert done.wait(30)
    # A worker of another cluster (other ports) is refused while this chief lives.
    other = {"worker": ["localhost:3", "localhost:4"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": other,
                                                "task": {"type": "worker", "index": 1}}))
    with pytest.raises(UserError, match="not by this cluster's chief"):
      run_dir.lock_for_training(out)
  finally:
    chief.release()
