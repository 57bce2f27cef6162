"""Through the binaries: damaged data named before the first step, one writer per
output_dir, datagen killed or out of disk and rerun, and each start's provenance."""
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import time

import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.data import manifest
from t2t_lite.errors import UserError
from tests.bin.helpers import TINY, error_lines, run, start

pytestmark = pytest.mark.slow
PROBLEM = "algorithmic_reverse_decimal40"
SPLITS = ("train", "dev", "dev_long")


def _train_args(data_dir, out, steps, *extra):
  return [f"--problem={PROBLEM}", "--model=transformer", "--hparams_set=transformer_tiny",
          f"--hparams={TINY}", f"--data_dir={data_dir}", f"--output_dir={out}",
          f"--train_steps={steps}", "--schedule=train", *extra]


def _one_line_error(proc, *fragments):
  assert proc.returncode == 2, proc.stdout + proc.stderr
  lines = error_lines(proc.stderr)
  assert len(lines) == 1, proc.stderr
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  return lines[0]


def _wait_for(predicate, timeout=240):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if predicate():
      return
    time.sleep(0.1)
  raise AssertionError("timed out")


def _copy(data_dir, to):
  shutil.copytree(data_dir, to)
  return str(to)


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
  """A run trained for 2 steps (a checkpoint, run.json with one start)."""
  out = str(tmp_path_factory.mktemp("trained") / "run")
  run("t2t-trainer", *_train_args(data_dir, out, 2, "--local_eval_frequency=2"))
  return out


def test_a_truncated_shard_is_named_before_the_first_step(data_dir, trained, tmp_path):
  damaged = _copy(data_dir, tmp_path / "data")
  shard = f"{PROBLEM}-train-00003-of-00010"
  with open(os.path.join(damaged, shard), "r+b") as f:
    f.truncate(100)
  dev_shard = f"{PROBLEM}-dev-00000-of-00001"
  with open(os.path.join(damaged, dev_shard), "r+b") as f:
    f.truncate(1000)
  out = tmp_path / "run"
  proc = run("t2t-trainer", *_train_args(damaged, out, 5), check=False)
  _one_line_error(proc, f"{shard} is truncated (100 of ", "does not match its manifest",
                  f"rerun t2t-datagen --problem={PROBLEM} --data_dir={damaged}")
  assert "training from step" not in proc.stdout and not out.exists()
  bench = run("t2t-benchmark", "--smoke", f"--problem={PROBLEM}", f"--data_dir={damaged}",
              check=False)
  _one_line_error(bench, f"{shard} is truncated")
  assert not bench.stdout.strip()  # nothing measured
  decoded = run("t2t-decoder", f"--output_dir={trained}", f"--data_dir={damaged}",
                check=False)  # decodes the dev split
  _one_line_error(decoded, f"{dev_shard} is truncated (1000 of ")
  assert not decoded.stdout.strip()
  # The repair: datagen rewrites those splits and keeps the other.
  repaired = run("t2t-datagen", f"--problem={PROBLEM}", f"--data_dir={damaged}")
  assert "the train data in" in repaired.stdout and "dev_long data already in" in \
      repaired.stdout
  for split in SPLITS:
    assert manifest.read(damaged, PROBLEM, split) == manifest.read(data_dir, PROBLEM, split)


def test_max_length_below_the_shortest_example_is_refused_before_writing(data_dir, tmp_path):
  out = tmp_path / "run"
  proc = run("t2t-trainer", *_train_args(data_dir, out, 5),
             f"--hparams={TINY},max_length=1", check=False)
  _one_line_error(proc, "no training example fits max_length=1")
  assert not out.exists()


def test_one_writer_per_output_dir(data_dir, trained, tmp_path):
  out = _copy(trained, tmp_path / "run")
  first = start("t2t-trainer", *_train_args(data_dir, out, 100000, "--local_eval_frequency=2",
                                            "--log_step_count_steps=2"), forked=False)
  try:
    lines = []
    _wait_for(lambda: lines.append(first.stdout.readline()) or "saved checkpoint" in lines[-1])
    first.send_signal(signal.SIGSTOP)  # still alive and holding the lock, without the CPU
    second = run("t2t-trainer", *_train_args(data_dir, out, 100000), check=False)
    _one_line_error(second, f"{out} is in use by t2t-trainer pid {first.pid} on host ",
                    "refreshed")
    # Readers never lock: a decoder reads the run while its trainer holds the lock.
    inputs = tmp_path / "in.txt"
    inputs.write_text("1 2 3\n")
    decoded = run("t2t-decoder", f"--output_dir={out}", f"--decode_from_file={inputs}",
                  "--decode_hparams=beam_size=1")
    assert len(decoded.stdout.strip().splitlines()) == 1
  finally:
    first.kill()  # SIGKILL: its lock stays behind, naming a process that is gone
    first.communicate()
  step = int(tf.train.latest_checkpoint(out).rsplit("-", 1)[1])
  third = run("t2t-trainer", *_train_args(data_dir, out, step + 1))
  assert f"took over the lock of {out} from t2t-trainer pid {first.pid}" in third.stderr
  assert f"process {first.pid} has ended" in third.stderr
  assert f"training from step {step} to {step + 1}" in third.stdout
  assert not os.path.exists(os.path.join(out, "writer.lock"))  # released at the end
  # Each start recorded what produced it: the first run's, the killed one's, the last.
  starts = json.load(open(os.path.join(out, "run.json")))["starts"]
  assert len(starts) == 3 and len({s["pid"] for s in starts}) == 3
  assert "--train_steps=100000" in starts[1]["command"]
  assert f"--train_steps={step + 1}" in starts[2]["command"]
  assert starts[2]["data"]["train"]["records"] == 100000
  assert starts[2]["tensorflow"] == tf.__version__ and starts[2]["t2t_lite"]["version"]


def _readable_is_complete(d, reference):
  """Whatever a reader accepts is exactly what an uninterrupted datagen wrote."""
  problem = registry.problem(PROBLEM)
  for split in SPLITS:
    try:
      files = problem.data_files(d, split)
    except UserError:
      continue
    got = {os.path.basename(f): manifest.file_sha256(f) for f in files}
    assert got == {s.file: s.sha256 for s in manifest.read(reference, PROBLEM, split)}, split


def _lock_pid(d):
  try:
    with open(os.path.join(d, "writer.lock")) as f:
      return json.load(f)["pid"]
  except (OSError, ValueError):
    return None


def test_datagen_killed_at_random_moments_then_rerun(data_dir, tmp_path):
  d = str(tmp_path / "data")
  seed = random.randrange(10 ** 6)
  rng = random.Random(seed)
  for _ in range(2):
    proc = start("t2t-datagen", f"--problem={PROBLEM}", f"--data_dir={d}", forked=False)
    # It has started writing (or, with everything already written, finished at once).
    _wait_for(lambda p=proc: _lock_pid(d) == p.pid or p.poll() is not None)
    time.sleep(rng.uniform(0, 6))  # writing the train split takes a few seconds
    proc.kill()
    proc.communicate()
    _readable_is_complete(d, data_dir)
  # A datagen that finished before its kill released its lock; a killed one left it.
  left_lock = _lock_pid(d) == proc.pid
  rerun = run("t2t-datagen", f"--problem={PROBLEM}", f"--data_dir={d}")
  assert ("took over the lock of" in rerun.stderr) == left_lock, (seed, rerun.stderr)
  for split in SPLITS:
    assert manifest.read(d, PROBLEM, split) == manifest.read(data_dir, PROBLEM, split), (
        f"seed {seed}: {rerun.stdout}")
  assert not [f for f in os.listdir(d) if f.endswith((".incomplete", ".tmp", ".lock"))]
  registry.problem(PROBLEM).check_data(d, SPLITS, verify=True, log=lambda line: None)


def _small_disk(path, size_mb):
  """A tmpfs of size_mb at path (root only): a disk that really fills up. None when this
  machine cannot mount one."""
  os.makedirs(path)
  proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", path],
                        capture_output=True)
  return path if proc.returncode == 0 else None


def test_datagen_on_a_full_disk_then_rerun_with_space(data_dir, tmp_path):
  d = str(tmp_path / "disk")
  mounted = _small_disk(d, 3)
  try:
    if mounted:  # ENOSPC, a disk that is really full
      failed = run("t2t-datagen", f"--problem={PROBLEM}", f"--data_dir={d}", check=False)
      reason = "No space left on device"
    else:  # a file-size limit: the same failing write, EFBIG, for any user
      def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (300000, 300000))
      failed = run("t2t-datagen", f"--problem={PROBLEM}", f"--data_dir={d}", check=False,
                   preexec_fn=limit)
      reason = "File too large"
    line = _one_line_error(failed, f"could not write {d}/{PROBLEM}-train-", reason,
                           "free space in")
    assert ".incomplete" in line
    assert sorted(os.listdir(d)) == [f"vocab.{PROBLEM}.txt"]  # nothing half-written left
    if mounted:
      subprocess.run(["mount", "-o", "remount,size=64m", d], check=True)
    run("t2t-datagen", f"--problem={PROBLEM}", f"--data_dir={d}")
    for split in SPLITS:
      assert manifest.read(d, PROBLEM, split) == manifest.read(data_dir, PROBLEM, split)
  finally:
    if mounted:
      subprocess.run(["umount", d], check=False)
