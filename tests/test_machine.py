"""Per-machine choices: thread pools from the usable cores, and activation_dtype=auto's
probe, measured once and cached per machine."""
import json

import pytest

from t2t_lite import machine


@pytest.mark.parametrize("cores,expected", [
    (1, (1, 1, 1)), (2, (2, 2, 2)), (4, (4, 2, 2)), (16, (16, 2, 4)), (64, (64, 2, 16))])
def test_threads_follow_the_core_count(cores, expected):
  s = machine.thread_settings(cores=cores)
  assert (s.intra_op, s.inter_op, s.input) == expected
  assert f"{cores} usable core(s)" in s.describe()


def test_given_thread_counts_win_over_the_choice():
  opts = machine.ThreadOptions(intra_op_threads=3, inter_op_threads=0, input_threads=5)
  s = machine.thread_settings(opts, cores=8)
  assert (s.intra_op, s.inter_op, s.input) == (3, 2, 5)


def test_usable_cores_respect_the_affinity_mask(monkeypatch):
  monkeypatch.setattr(machine.os, "sched_getaffinity", lambda pid: {0, 1, 2})
  monkeypatch.setattr(machine, "_cgroup_cpu_limit", lambda: None)
  assert machine.usable_cores() == 3
  monkeypatch.setattr(machine, "_cgroup_cpu_limit", lambda: 2)  # a CPU quota caps it
  assert machine.usable_cores() == 2


def test_the_probe_runs_once_per_machine_then_the_cache_answers(tmp_path):
  path = str(tmp_path / "cache" / "machine.json")
  calls = []

  def probe():
    calls.append(1)
    return 1.9
  first = machine.choose_activation_dtype(probe, path)
  assert first.dtype == "bfloat16" and not first.cached and calls == [1]
  again = machine.choose_activation_dtype(probe, path)
  assert again.dtype == "bfloat16" and again.cached and calls == [1]
  assert again.bf16_speedup == pytest.approx(1.9)
  entries = json.load(open(path))
  assert list(entries) == [machine.machine_key()]  # keyed by CPU, flags, devices, TF
  assert "cached in" in again.describe() and "1.90x" in again.describe()


def test_bfloat16_must_be_clearly_faster(tmp_path):
  choice = machine.choose_activation_dtype(lambda: machine.BF16_MIN_SPEEDUP - 0.01,
                                           str(tmp_path / "m.json"))
  assert choice.dtype == "float32"


def test_a_damaged_cache_is_measured_again(tmp_path):
  path = tmp_path / "machine.json"
  path.write_text("{not json")
  assert machine.choose_activation_dtype(lambda: 0.9, str(path)).dtype == "float32"
  assert json.load(open(path))[machine.machine_key()]["activation_dtype"] == "float32"


def test_an_unwritable_cache_still_decides(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("")  # a file where the cache folder should be
  choice = machine.choose_activation_dtype(lambda: 2.0, str(blocker / "machine.json"))
  assert choice.dtype == "bfloat16" and "could not write the cache" in choice.note


def test_the_cache_location_follows_the_environment(monkeypatch, tmp_path):
  monkeypatch.setenv(machine.CACHE_ENV, str(tmp_path))
  assert machine.cache_path() == str(tmp_path / "machine.json")
  monkeypatch.delenv(machine.CACHE_ENV)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
  assert machine.cache_path() == str(tmp_path / "xdg" / "t2t_lite" / "machine.json")


def test_the_probe_measures_a_speed_ratio():
  ratio = machine.probe_bf16_speedup(rows=32, width=64, repeats=1, calls=1)
  assert ratio > 0
