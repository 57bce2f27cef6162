"""One writer per directory: a lock file naming its holder, refreshed while it lives.

t2t-trainer holds `OUTPUT_DIR/writer.lock` while it trains, and datagen holds
`DATA_DIR/writer.lock` while it writes, so two of them never interleave their files (two
terminals, or a rerun while a scheduler still runs the first). The file is JSON naming the
holder: host, pid, the process's start, the command, and when the holder last refreshed it
(every REFRESH_SECS, from a background thread). Readers (evaluators, decoders) never lock.

A lock whose holder is gone is taken over with a warning:
- on the same host (same boot), at once when its pid is dead or now names another process;
- from another host, once it has not been refreshed for STALE_SECS (clocks must roughly
  agree: the lock lives on storage they share);
- from another host, at once by the chief of the same cluster (the same TF_CONFIG
  cluster, whose chief address this process now holds): a cluster restarted elsewhere.
Otherwise acquiring fails with one line naming the holder.

Creation is atomic on local disks and NFS (a hard link of a complete temporary file); on
object stores (gs://) there is no atomic create, and two writers starting within the same
moment could both pass.
"""
import contextlib
import datetime
import json
import os
import socket
import sys
import threading
import time
import uuid

import tensorflow as tf

from t2t_lite.errors import UserError

LOCK_FILE = "writer.lock"
REFRESH_SECS = 30.0
STALE_SECS = 600.0
_TAKEOVER_STALE_SECS = 60.0  # a taker that died inside its few-millisecond critical section


def _boot_id():
  try:
    with open("/proc/sys/kernel/random/boot_id") as f:
      return f.read().strip()
  except OSError:
    return None


def _pid_namespace():
  """Which pid namespace this process sees (containers sharing a host name may not see
  each other's pids); None when this system does not say."""
  try:
    return os.readlink("/proc/self/ns/pid")
  except OSError:
    return None


def process_start(pid):
  """When process `pid` started (clock ticks since boot), or None when it does not exist
  or this system does not say. A pid that is reused names another start."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      fields = f.read().rsplit(")", 1)[1].split()
    return fields[19]  # field 22 of proc(5), counted after the command's parentheses
  except (OSError, IndexError):
    return None


def _pid_exists(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # another user's process
    return True
  return True


def _when(unix_time):
  return datetime.datetime.fromtimestamp(unix_time).astimezone().isoformat(timespec="seconds")


class Holder:
  """What a lock file says of the process that holds it."""

  def __init__(self, content):
    self.content = content
    self.token = content.get("token")
    self.host = content.get("host")
    self.pid = content.get("pid")
    self.cluster = content.get("cluster")

  def describe(self, now=None):
    age = (now or time.time()) - float(self.content.get("refreshed_unix", 0))
    return (f"{self.content.get('owner', 'a process')} pid {self.pid} on host {self.host} "
            f"(started {self.content.get('started', '?')}, refreshed {age:.0f}s ago)")

  def same_machine(self):
    """Whether this process can see the holder's pid (same host, same pid namespace)."""
    namespace = self.content.get("pid_namespace")
    return self.host == socket.gethostname() and (
        namespace is None or _pid_namespace() in (None, namespace))

  def gone(self, cluster=None, now=None):
    """Why the holder is certainly gone (its lock may be taken over), or None."""
    if self.same_machine():
      boot = _boot_id()
      if boot and self.content.get("boot_id") and boot != self.content["boot_id"]:
        return "the host has restarted since"
      if not isinstance(self.pid, int) or not _pid_exists(self.pid):
        return f"process {self.pid} has ended"
      start = self.content.get("pid_start")
      if start and process_start(self.pid) not in (None, start):
        return f"process {self.pid} has ended (the pid now names another process)"
      return None
    if cluster and self.cluster == cluster:  # its chief's address is now this process's
      return "it is an earlier start of this cluster's chief"
    age = (now or time.time()) - float(self.content.get("refreshed_unix", 0))
    if age > STALE_SECS:
      return f"it was last refreshed {age:.0f}s ago (more than {STALE_SECS:.0f}s)"
    return None


def _is_local(path):
  return "://" not in path


def _read(path):
  """The lock's Holder; None when there is no lock. A file being replaced is retried."""
  for attempt in range(5):
    try:
      with tf.io.gfile.GFile(path) as f:
        text = f.read()
    except tf.errors.NotFoundError:
      return None
    try:
      content = json.loads(text)
      if isinstance(content, dict):
        return Holder(content)
    except ValueError:
      pass
    time.sleep(0.05 * (attempt + 1))
  try:  # not JSON: judged by its age, as another host's lock is
    modified = tf.io.gfile.stat(path).mtime_nsec / 1e9
  except tf.errors.NotFoundError:
    return None
  return Holder({"owner": f"an unreadable lock file ({path})", "refreshed_unix": modified})


def _create_exclusively(path, text):
  """Creates `path` holding `text` unless it exists; True when this call created it."""
  tmp = f"{path}.{uuid.uuid4().hex}.tmp"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write(text)
  try:
    if _is_local(path):
      try:
        os.link(tmp, path)  # atomic, also on NFS: only a complete file ever appears
        return True
      except FileExistsError:
        return False
    if tf.io.gfile.exists(path):  # object stores: no atomic create (see module doc)
      return False
    tf.io.gfile.rename(tmp, path, overwrite=False)
    return True
  finally:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.remove(tmp)


def _replace(path, text):
  tmp = f"{path}.{uuid.uuid4().hex}.tmp"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write(text)
  tf.io.gfile.rename(tmp, path, overwrite=True)


def warn(message):
  print(f"WARNING: {message}", file=sys.stderr, flush=True)


class WriterLock:
  """The lock of one directory. `acquire()` (or `with`) takes it or raises UserError;
  `release()` removes it, and the directory too when acquire created it and it is still
  empty (a run refused at start leaves nothing behind)."""

  def __init__(self, directory, owner, *, cluster=None, refresh_secs=REFRESH_SECS,
               on_lost=None, log=warn):
    self.directory = directory
    self.path = os.path.join(directory, LOCK_FILE)
    self.owner, self.cluster, self.log = owner, cluster, log
    self.refresh_secs = refresh_secs
    self.on_lost = on_lost or (lambda holder: log(
        f"{self.path} was taken over by {holder}; this process no longer owns "
        f"{directory}"))
    self.token = uuid.uuid4().hex
    self.created_dir = False
    self._stop = threading.Event()
    self._thread = None
    self._started = time.time()

  def _content(self):
    now = time.time()
    return json.dumps({
        "owner": self.owner, "host": socket.gethostname(), "boot_id": _boot_id(),
        "pid": os.getpid(), "pid_start": process_start(os.getpid()),
        "pid_namespace": _pid_namespace(),
        "started": _when(self._started), "started_unix": self._started,
        "refreshed": _when(now), "refreshed_unix": now,
        "command": " ".join(sys.argv)[:2000], "cluster": self.cluster, "token": self.token,
    }, indent=1)

  def acquire(self):
    try:
      self._acquire()
    except (tf.errors.OpError, OSError) as e:  # a read-only or full disk
      self._give_up()
      raise UserError(f"could not create the lock {self.path} ({str(e).strip()[:120]}); "
                      "check that the directory is writable and has free space") from None
    self._thread = threading.Thread(target=self._refresh_loop, daemon=True,
                                    name=f"writer-lock {self.directory}")
    self._thread.start()
    return self

  def _acquire(self):
    if not tf.io.gfile.exists(self.directory):
      tf.io.gfile.makedirs(self.directory)
      self.created_dir = True
    while not _create_exclusively(self.path, self._content()):
      holder = _read(self.path)
      if holder is None:
        continue  # released meanwhile
      reason = holder.gone(self.cluster)
      if reason is None:
        self._give_up()
        elsewhere = "" if holder.same_machine() else (
            f"; if it is gone, its lock is taken over {STALE_SECS:.0f}s after its last "
            f"refresh, or delete {self.path}")
        raise UserError(f"{self.directory} is in use by {holder.describe()}; wait for it to "
                        f"end or stop it, or use another directory{elsewhere}")
      if self._take_over(holder):
        self.log(f"took over the lock of {self.directory} from {holder.describe()}: "
                 f"{reason}")
        return

  def _take_over(self, stale):
    """Replaces the stale lock by ours, one taker at a time; False when the lock changed
    meanwhile (then acquire looks again)."""
    mutex = self.path + ".takeover"
    if not _create_exclusively(mutex, self.token):
      try:
        if time.time() - tf.io.gfile.stat(mutex).mtime_nsec / 1e9 > _TAKEOVER_STALE_SECS:
          tf.io.gfile.remove(mutex)
      except tf.errors.NotFoundError:
        pass
      time.sleep(0.1)
      return False
    try:
      current = _read(self.path)
      if current is None or current.token != stale.token:
        return False
      _replace(self.path, self._content())
      return True
    finally:
      tf.io.gfile.remove(mutex)

  def _refresh_loop(self):
    while not self._stop.wait(self.refresh_secs):
      try:
        holder = _read(self.path)
        if holder is None:
          self.log(f"{self.path} was deleted while this process held it; writing it again")
          if not _create_exclusively(self.path, self._content()):
            continue
        elif holder.token != self.token:
          self.on_lost(holder.describe())
          return
        else:
          _replace(self.path, self._content())
      except (tf.errors.OpError, OSError) as e:  # a full disk; retried at the next refresh
        self.log(f"could not refresh {self.path} ({str(e).strip()[:120]})")

  def release(self):
    self._stop.set()
    thread, self._thread = self._thread, None
    if thread is not None and thread.ident is not None:  # started (acquire may be midway)
      thread.join(timeout=5)
    with contextlib.suppress(tf.errors.OpError, OSError):
      holder = _read(self.path)
      if holder is not None and holder.token == self.token:
        tf.io.gfile.remove(self.path)
    self._give_up()

  def _give_up(self):
    """Removes the directory acquire() made, if nothing else was written into it."""
    if self.created_dir and _is_local(self.directory):
      with contextlib.suppress(OSError):
        os.rmdir(self.directory)  # fails, as it should, unless the directory is empty
    self.created_dir = False

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()
    return False


def live_holder(directory):
  """Who holds the lock of `directory` now, described, or None when nobody live does."""
  holder = _read(os.path.join(directory, LOCK_FILE))
  return holder.describe() if holder is not None and holder.gone() is None else None


def wait_for_holder(directory, cluster, timeout_secs=600.0, poll_secs=0.5):
  """For a task of a multi-process run that does not write (a multi-worker worker other
  than the chief): waits until the lock of `directory` is held by this cluster's chief.
  Fails in one line if another live run holds it: then this cluster's chief cannot
  take it, and this task would wait for its collectives forever."""
  path = os.path.join(directory, LOCK_FILE)
  deadline = time.time() + timeout_secs
  first_seen = {}
  while True:
    holder = _read(path)
    if holder is not None and holder.cluster == cluster and cluster:
      return
    if holder is not None and holder.gone(cluster) is None:
      # Alive for sure: on this host its pid is; elsewhere, it refreshed while we looked.
      seen = first_seen.setdefault(holder.token, holder.content.get("refreshed_unix"))
      if holder.same_machine() or \
          holder.content.get("refreshed_unix") != seen:
        raise UserError(f"{directory} is in use by {holder.describe()}, not by this "
                        "cluster's chief; stop that run or use another --output_dir")
    if time.time() > deadline:
      raise UserError(f"this cluster's chief did not take the lock of {directory} within "
                      f"{timeout_secs:.0f}s; check the chief's log")
    time.sleep(poll_secs)
