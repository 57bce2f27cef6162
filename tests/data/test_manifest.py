"""Data manifests (in-process): what datagen records, what readers check before any data is
read, and datagen runs that die at every point of writing, then rerun."""
import json
import os
import random
import shutil

import pytest
import tensorflow as tf

from t2t_lite import writer_lock
from t2t_lite.data import generator_utils, manifest
from t2t_lite.errors import UserError
from t2t_lite.problems import algorithmic


class TinyReverse(algorithmic.AlgorithmicReverseDecimal40):
  """The reverse problem at a size that datagen writes in a blink (not registered)."""
  train_size, dev_size, long_size = 60, 10, 5


PROBLEM = TinyReverse()
NAME = PROBLEM.name
SPLITS = [split for split, _ in PROBLEM.dataset_splits]


def _generate(data_dir):
  logs = []
  PROBLEM.generate_data(str(data_dir), log=logs.append)
  return logs


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """A datagen that was never interrupted: its manifests, per split."""
  d = tmp_path_factory.mktemp("reference")
  _generate(d)
  return d, {s: manifest.read(str(d), NAME, s) for s in SPLITS}


@pytest.fixture
def data(reference, tmp_path):
  d = tmp_path / "data"
  shutil.copytree(reference[0], d)
  return d


def _shard(d, split="train", index=3):
  return d / f"{NAME}-{split}-{index:05d}-of-{dict(PROBLEM.dataset_splits)[split]:05d}"


def test_datagen_records_each_shards_count_size_and_checksum(reference):
  d, manifests = reference
  content = json.loads((d / f"{NAME}-train.manifest.json").read_text())
  assert content["records"] == 60 and content["problem"] == NAME
  assert [s["records"] for s in content["shards"]] == [6] * 10
  for s in manifests["train"]:
    path = os.path.join(d, s.file)
    assert s.bytes == os.path.getsize(path)
    assert s.sha256 == manifest.file_sha256(path)
    assert s.records == manifest.count_records(path)
  assert not [f for f in os.listdir(d) if f.endswith((".incomplete", ".tmp", ".lock"))]


def test_missing_truncated_and_extra_shards_are_named_without_reading_data(data):
  with open(_shard(data), "r+b") as f:
    f.truncate(100)
  _shard(data, index=7).unlink()
  shutil.copy(_shard(data, index=0), data / f"{NAME}-train-00010-of-00011")
  with pytest.raises(UserError) as e:
    PROBLEM.data_files(str(data), "train")
  message = str(e.value)
  assert f"{NAME}-train-00003-of-00010 is truncated (100 of " in message
  assert f"{NAME}-train-00007-of-00010 is missing" in message
  assert f"{NAME}-train-00010-of-00011 is not in the manifest" in message
  assert f"rerun t2t-datagen --problem={NAME} --data_dir={data}" in message
  assert PROBLEM.data_files(str(data), "dev")  # the other splits are fine


def test_verify_data_names_a_shard_whose_bytes_changed_but_not_its_size(data):
  with open(_shard(data), "r+b") as f:
    f.seek(30)
    f.write(b"\xff" * 8)
  PROBLEM.check_data(str(data), ["train"])  # the cheap check cannot see it
  with pytest.raises(UserError, match=f"--verify_data: {NAME}-train-00003-of-00010 of .* "
                                      "differs from the SHA-256"):
    PROBLEM.check_data(str(data), ["train"], verify=True)
  logs = []
  PROBLEM.check_data(str(data), ["dev"], verify=True, log=logs.append)
  assert logs == [f"verified 1 dev shard(s) of {NAME}: 10 records, SHA-256 as written"]


def test_a_damaged_manifest_is_named(data):
  (data / f"{NAME}-dev.manifest.json").write_text("{not json")
  with pytest.raises(UserError, match=f"the manifest .*{NAME}-dev.manifest.json is damaged"):
    PROBLEM.data_files(str(data), "dev")


def test_data_without_a_manifest_still_reads_with_one_warning(data, capsys):
  for split in SPLITS:
    (data / f"{NAME}-{split}.manifest.json").unlink()
  files = PROBLEM.data_files(str(data), "train")
  assert len(files) == 10
  PROBLEM.data_files(str(data), "train")
  warnings = [l for l in capsys.readouterr().err.splitlines() if l.startswith("WARNING")]
  assert len(warnings) == 1 and "has no manifest" in warnings[0], warnings
  with pytest.raises(UserError, match="--verify_data: .* has no manifest to verify against"):
    PROBLEM.check_data(str(data), ["train"], verify=True)
  # A set with a hole, or a leftover of an interrupted write, is not a whole split.
  _shard(data, index=4).unlink()
  with pytest.raises(UserError, match="is incomplete: shard 4 of 10 is missing"):
    PROBLEM.data_files(str(data), "train")
  (data / f"{NAME}-dev-00000-of-00001.incomplete").write_bytes(b"x")
  with pytest.raises(UserError, match="incomplete: .*dev-00000-of-00001.incomplete is left"):
    PROBLEM.data_files(str(data), "dev")


def test_datagen_records_the_manifest_of_older_data_and_rewrites_damaged_older_data(
    data, reference):
  for split in SPLITS:
    (data / f"{NAME}-{split}.manifest.json").unlink()
  with open(_shard(data, "dev", 0), "r+b") as f:  # damaged: its records do not read
    f.truncate(os.path.getsize(_shard(data, "dev", 0)) - 3)
  logs = _generate(data)
  assert any("train data already in" in l and "recorded its manifest" in l for l in logs)
  assert any("dev shard" in l and "damaged; rewriting the split" in l for l in logs)
  for split in SPLITS:
    assert manifest.read(str(data), NAME, split) == reference[1][split]


def test_a_rerun_keeps_complete_splits_and_rewrites_exactly_the_incomplete_one(data):
  kept = {f: os.path.getmtime(data / f) for f in os.listdir(data) if "-train" not in f}
  with open(_shard(data), "r+b") as f:
    f.truncate(50)
  logs = _generate(data)
  assert any("train data in" in l and "incomplete" in l for l in logs), logs
  assert {f: os.path.getmtime(data / f) for f in kept} == kept
  PROBLEM.check_data(str(data), SPLITS, verify=True)


class Died(BaseException):
  """The process dies here: nothing after this point runs (no cleanup either)."""


def _die_at(monkeypatch, module, name, at):
  original = getattr(module, name)
  calls = [0]

  def wrapped(*args, **kwargs):
    calls[0] += 1
    if calls[0] == at:
      raise Died(f"{name} call {at}")
    return original(*args, **kwargs)
  monkeypatch.setattr(module, name, wrapped)
  return calls


def _count_calls(monkeypatch, tmp_path, module, name):
  calls = _die_at(monkeypatch, module, name, at=-1)
  _generate(tmp_path / f"count_{name}")
  monkeypatch.undo()
  return calls[0]


def _assert_nothing_incomplete_is_readable(d, reference):
  """Whatever a reader accepts after a crash is exactly what an uninterrupted datagen
  wrote; every other split is refused or absent."""
  for split in SPLITS:
    try:
      files = PROBLEM.data_files(str(d), split)
    except UserError:
      continue
    expected = {s.file: s.sha256 for s in reference[split]}
    assert {os.path.basename(f): manifest.file_sha256(f) for f in files} == expected, split


def _rerun_and_compare(d, reference):
  _generate(d)
  for split in SPLITS:
    assert manifest.read(str(d), NAME, split) == reference[split], split
  PROBLEM.check_data(str(d), SPLITS, verify=True)
  leftovers = [f for f in os.listdir(d) if f.endswith((".incomplete", ".tmp", ".lock",
                                                        ".takeover"))]
  assert not leftovers


def test_datagen_killed_at_every_write_rename_and_checksum_then_rerun(
    reference, tmp_path, monkeypatch):
  points = [(generator_utils, "to_example"), (tf.io.gfile, "rename"),
            (manifest, "describe"), (manifest, "write")]
  rng = random.Random(20)
  for module, name in points:
    total = _count_calls(monkeypatch, tmp_path, module, name)
    # Every rename and checksum; a sample of the example writes (75 of them).
    ats = list(range(1, total + 1)) if total <= 20 else sorted(
        {1, total} | set(rng.sample(range(2, total), 6)))
    for at in ats:
      d = tmp_path / f"{name}_{at}"
      _die_at(monkeypatch, module, name, at)
      with pytest.raises(Died):
        _generate(d)
      monkeypatch.undo()
      _assert_nothing_incomplete_is_readable(d, reference[1])
      _rerun_and_compare(d, reference[1])


def test_datagen_killed_again_while_it_repairs(reference, tmp_path, monkeypatch):
  d = tmp_path / "twice"
  _die_at(monkeypatch, tf.io.gfile, "rename", 6)  # among the train shards' renames
  with pytest.raises(Died):
    _generate(d)
  monkeypatch.undo()
  _die_at(monkeypatch, tf.io.gfile, "remove", 3)  # while the rerun clears the split
  with pytest.raises(Died):
    _generate(d)
  monkeypatch.undo()
  _assert_nothing_incomplete_is_readable(d, reference[1])
  _rerun_and_compare(d, reference[1])


def test_a_split_being_written_says_to_wait_for_its_writer(data):
  _shard(data, index=4).unlink()
  with writer_lock.WriterLock(str(data), "t2t-datagen"):
    with pytest.raises(UserError, match=r"t2t-datagen pid \d+ on host .* is writing .* now: "
                                        "wait for it to end"):
      PROBLEM.data_files(str(data), "train")
  with pytest.raises(UserError, match="rerun t2t-datagen"):
    PROBLEM.data_files(str(data), "train")
