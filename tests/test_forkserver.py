"""The tests' fork server starts a process as a fresh one would behave: argv, cwd,
environment, standard streams, exit status and signals are the caller's."""
import os
import signal
import subprocess
import time

import pytest

from tests.bin import helpers

pytestmark = pytest.mark.skipif(not helpers.FORK, reason="T2T_TESTS_FORK=0")


def _python(code, *args, **kwargs):
  return subprocess.run(helpers.python_c() + [code, *args], capture_output=True, text=True,
                        timeout=60, **kwargs)


def test_argv_cwd_environment_and_streams_are_the_callers(tmp_path):
  code = ("import json, os, sys; print(json.dumps([sys.argv, os.getcwd(), "
          "os.environ.get('T2T_PROBE'), sys.stdin.read(), sys.path[0]])); "
          "print('to stderr', file=sys.stderr)")
  proc = _python(code, "a b", "--x=1", cwd=tmp_path, input="from stdin",
                 env=dict(os.environ, T2T_PROBE="probe"))
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.strip() == (f'[["-c", "a b", "--x=1"], "{tmp_path}", "probe", '
                                 '"from stdin", ""]')
  assert proc.stderr.strip().splitlines()[-1] == "to stderr"


def test_exit_status_and_death_by_signal_are_the_processs():
  assert _python("import sys; sys.exit(3)").returncode == 3
  assert _python("raise ValueError('boom')").returncode == 1
  assert _python("import os, signal; os.kill(os.getpid(), signal.SIGTERM)").returncode == \
      -signal.SIGTERM


def test_signals_reach_the_process_and_killing_the_launcher_kills_it(tmp_path):
  # The process records its pid, then waits for SIGTERM and exits 7 from its handler.
  pid_file = tmp_path / "pid"
  code = ("import os, signal, sys, time\n"
          "signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))\n"
          f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
          "time.sleep(60)\n")

  def started():
    proc = subprocess.Popen(helpers.python_c() + [code])
    while not pid_file.exists() or not pid_file.read_text():
      assert proc.poll() is None
      time.sleep(0.05)
    pid = int(pid_file.read_text())
    pid_file.unlink()
    return proc, pid

  proc, pid = started()
  assert pid != proc.pid  # the launcher is not the process
  proc.send_signal(signal.SIGTERM)
  assert proc.wait(timeout=30) == 7

  proc, pid = started()
  proc.kill()
  proc.wait()
  deadline = time.time() + 30
  while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
    time.sleep(0.05)
  assert not os.path.exists(f"/proc/{pid}")


def test_a_started_binarys_wait_returns_only_once_the_binary_is_gone_after_a_kill():
  # helpers.start: SIGKILL ends the launcher at once and its binary a moment later; a test
  # that then reuses the binary's output_dir must not find it still running.
  for _ in range(3):
    proc = helpers.start("python-c", "import time; time.sleep(60)")
    while not os.path.exists(proc.pid_file):
      assert proc.poll() is None
      time.sleep(0.02)
    pid = int(open(proc.pid_file).read())
    assert pid != proc.pid
    proc.kill()
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert not os.path.exists(f"/proc/{pid}")


def test_a_binary_prints_its_one_line_error_and_exit_status():
  proc = helpers.run("t2t-trainer", "--problem=nope", "--model=transformer",
                     "--hparams_set=transformer_tiny", "--output_dir=unused", check=False)
  assert proc.returncode == 2
  assert helpers.error_lines(proc.stderr) == [
      "t2t-trainer: error: unknown problem 'nope' (t2t-trainer --registry_help lists them "
      "all)"]


def test_the_tensorflow_only_server_has_not_imported_t2t_lite():
  code = ("import json, sys; import tensorflow as tf; "
          "print(json.dumps([any(m.startswith('t2t_lite') for m in sys.modules), "
          "int(tf.constant(2) * 3)]))")
  proc = subprocess.run(helpers.python_c_without_t2t_lite() + [code], capture_output=True,
                        text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.strip().splitlines()[-1] == "[false, 6]"
