"""One writer per directory: the lock file, its holder's liveness, refreshes, takeovers and
the tasks of a cluster (in-process; real processes stand in for dead holders)."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from t2t_lite import writer_lock
from t2t_lite.errors import UserError
from t2t_lite.writer_lock import LOCK_FILE, WriterLock


def _write_lock(directory, **fields):
  """A lock file as another process would have left it."""
  now = time.time()
  content = {"owner": "t2t-trainer", "host": socket.gethostname(),
             "boot_id": writer_lock._boot_id(), "pid": os.getpid(),
             "pid_start": writer_lock.process_start(os.getpid()), "started": "earlier",
             "started_unix": now, "refreshed_unix": now, "command": "t2t-trainer ...",
             "cluster": None, "token": "another"}
  content.update(fields)
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, LOCK_FILE), "w") as f:
    json.dump(content, f)


def _lock_content(directory):
  with open(os.path.join(directory, LOCK_FILE)) as f:
    return json.load(f)


def _dead_pid():
  proc = subprocess.Popen([sys.executable, "-c", "pass"])
  proc.wait()
  return proc.pid


def test_the_lock_names_its_holder_and_a_second_writer_is_refused(tmp_path):
  d = str(tmp_path / "run")
  with WriterLock(d, "t2t-trainer"):
    content = _lock_content(d)
    assert content["pid"] == os.getpid() and content["host"] == socket.gethostname()
    assert content["owner"] == "t2t-trainer" and content["started"]
    with pytest.raises(UserError, match=rf"{d} is in use by t2t-trainer pid {os.getpid()} "
                                        rf"on host {socket.gethostname()} \(started "):
      WriterLock(d, "t2t-trainer").acquire()
  assert not os.path.exists(d)  # made by acquire, empty again: removed


def test_a_directory_that_existed_or_holds_files_stays(tmp_path):
  d = tmp_path / "run"
  with WriterLock(str(d), "t2t-trainer"):
    (d / "hparams.json").write_text("{}")
  assert sorted(os.listdir(d)) == ["hparams.json"]
  with WriterLock(str(tmp_path), "t2t-trainer"):
    pass
  assert tmp_path.exists()


def test_the_lock_of_a_dead_process_on_this_host_is_taken_over_with_a_warning(tmp_path):
  d = str(tmp_path)
  pid = _dead_pid()
  _write_lock(d, pid=pid, pid_start="1")
  warnings = []
  with WriterLock(d, "t2t-trainer", log=warnings.append):
    assert _lock_content(d)["pid"] == os.getpid()
  assert len(warnings) == 1
  assert f"took over the lock of {d} from t2t-trainer pid {pid}" in warnings[0]
  assert f"process {pid} has ended" in warnings[0]


def test_a_reused_pid_or_a_restarted_host_is_a_dead_holder(tmp_path):
  _write_lock(str(tmp_path), pid_start="12345")  # our pid, but another process's start
  warnings = []
  WriterLock(str(tmp_path), "x", log=warnings.append).acquire().release()
  assert "the pid now names another process" in warnings[0]
  _write_lock(str(tmp_path), boot_id="an-earlier-boot")
  WriterLock(str(tmp_path), "x", log=warnings.append).acquire().release()
  assert "the host has restarted since" in warnings[1]


def test_a_holder_in_another_pid_namespace_is_judged_by_its_refreshes(tmp_path):
  """Containers sharing the host's name (host networking) do not see each other's pids:
  a pid missing here says nothing about the holder."""
  _write_lock(str(tmp_path), pid=_dead_pid(), pid_namespace="pid:[1]")
  with pytest.raises(UserError, match="is in use by t2t-trainer pid"):
    WriterLock(str(tmp_path), "t2t-trainer").acquire()


def test_another_hosts_lock_holds_until_it_goes_unrefreshed(tmp_path):
  d = str(tmp_path)
  _write_lock(d, host="gpu-node-7", pid=1, refreshed_unix=time.time() - 60)
  with pytest.raises(UserError, match="in use by t2t-trainer pid 1 on host gpu-node-7 .*"
                                      "refreshed 60s ago.*taken over 600s after"):
    WriterLock(d, "t2t-trainer").acquire()
  _write_lock(d, host="gpu-node-7", pid=1,
              refreshed_unix=time.time() - writer_lock.STALE_SECS - 5)
  warnings = []
  WriterLock(d, "t2t-trainer", log=warnings.append).acquire().release()
  assert "it was last refreshed 605s ago" in warnings[0]
  # A cluster's restarted chief takes over its own earlier start's lock from another host.
  _write_lock(d, host="gpu-node-7", pid=1, cluster="c1")
  WriterLock(d, "t2t-trainer", cluster="c1", log=warnings.append).acquire().release()
  assert "an earlier start of this cluster's chief" in warnings[1]


def test_the_holder_refreshes_the_lock_and_notices_a_takeover(tmp_path):
  d = str(tmp_path)
  lost = threading.Event()
  lock = WriterLock(d, "t2t-trainer", refresh_secs=0.05,
                    on_lost=lambda holder: lost.set() if "gpu-node-7" in holder else None)
  lock.acquire()
  first = _lock_content(d)["refreshed_unix"]
  deadline = time.time() + 10
  while _lock_content(d)["refreshed_unix"] == first and time.time() < deadline:
    time.sleep(0.05)
  assert _lock_content(d)["refreshed_unix"] > first
  os.remove(os.path.join(d, LOCK_FILE))  # deleted by hand: written again
  while not os.path.exists(os.path.join(d, LOCK_FILE)) and time.time() < deadline:
    time.sleep(0.05)
  assert _lock_content(d)["token"] == lock.token
  _write_lock(d, host="gpu-node-7", pid=1)
  assert lost.wait(10)
  lock.release()
  assert _lock_content(d)["host"] == "gpu-node-7"  # not ours: left alone


def _contend(directory, writers=8):
  """`writers` threads acquiring at the same moment: (the locks that won, those refused)."""
  won, refused, barrier = [], [], threading.Barrier(writers)

  def contend():
    lock = WriterLock(directory, "t2t-trainer", log=lambda message: None)
    barrier.wait()
    try:
      won.append(lock.acquire())
    except UserError:
      refused.append(lock)
  threads = [threading.Thread(target=contend) for _ in range(writers)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  return won, refused


def test_of_many_simultaneous_writers_exactly_one_gets_the_lock(tmp_path):
  for stale in (False, True):
    d = str(tmp_path / f"stale_{stale}")
    if stale:
      _write_lock(d, pid=_dead_pid())
    won, refused = _contend(d)
    assert len(won) == 1 and len(refused) == 7, (stale, len(won))
    assert _lock_content(d)["token"] == won[0].token
    won[0].release()


def test_cluster_tasks_wait_for_their_chief_and_refuse_another_run(tmp_path):
  d = str(tmp_path)
  chief = WriterLock(d, "t2t-trainer", cluster="c1")
  threading.Timer(0.3, chief.acquire).start()
  writer_lock.wait_for_holder(d, "c1", timeout_secs=30, poll_secs=0.05)
  chief.release()
  _write_lock(d, cluster="c0")  # a live process of this host, of another run
  with pytest.raises(UserError, match="in use by t2t-trainer pid .*not by this cluster's chief"):
    writer_lock.wait_for_holder(d, "c1", timeout_secs=30, poll_secs=0.05)
  os.remove(os.path.join(d, LOCK_FILE))
  with pytest.raises(UserError, match="chief did not take the lock of .* within 0s"):
    writer_lock.wait_for_holder(d, "c1", timeout_secs=0.2, poll_secs=0.05)


def test_an_unreadable_lock_file_is_judged_by_its_age(tmp_path):
  path = tmp_path / LOCK_FILE
  path.write_text("{half a lock")
  with pytest.raises(UserError, match="in use by an unreadable lock file"):
    WriterLock(str(tmp_path), "t2t-trainer").acquire()
  old = time.time() - writer_lock.STALE_SECS - 10
  os.utime(path, (old, old))
  warnings = []
  WriterLock(str(tmp_path), "t2t-trainer", log=warnings.append).acquire().release()
  assert "took over the lock" in warnings[0] and "last refreshed" in warnings[0]
