"""t2t-sweep [search] end to end: a TPE search over the learning rate that prunes the
diverging trials, shared by two workers on one SQLite study while one worker is killed and
restarted; and two workers on a PostgreSQL server the test starts, one stopped mid-trial."""
import csv
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import optuna
import pytest

from tests.bin.helpers import ENV, error_lines, launcher, run, tiny_sweep_file

pytestmark = pytest.mark.slow
PROBLEM = "algorithmic_reverse_decimal40"
TRAIN_STEPS = 20
# TPE draws at random until 2 trials have finished, each trial seeded by the search's seed
# and its number: seed 2633 draws learning_rate_constant 0.294 and 1.10 (they train) for
# trials 0 and 1, and 98.6 and 89.3 (they diverge) for trials 2 and 3. One of those two is
# the first new trial after the killed one (whose retry takes the other number); the
# trials after that are TPE's.
SEARCH = """
[search]
sampler = {name = "tpe", startup_trials = 2}
pruner = {name = "median", startup_trials = 1}
trials = 5
seed = 2633
metric = "neg_log_perplexity"
learning_rate_constant = {min = 0.001, max = 100.0, scale = "log"}
"""


def _sweep_file(path, data_dir, search):
  return tiny_sweep_file(path, PROBLEM, data_dir, TRAIN_STEPS, search)


def _start(log_path, *args):
  log = open(log_path, "w")  # noqa: SIM115 (closed with the process)
  return subprocess.Popen(launcher("t2t-sweep") + list(args), stdout=log,
                          stderr=subprocess.STDOUT, env=ENV), log


def _wait_for(predicate, timeout=300):
  deadline = time.time() + timeout
  while time.time() < deadline:
    found = predicate()
    if found:
      return found
    time.sleep(0.1)
  raise AssertionError("timed out")


def _finish(proc, log, timeout=600):
  proc.wait(timeout=timeout)
  log.close()
  text = open(log.name).read()
  assert proc.returncode == 0, text
  return text


def _trainer_runs(out, folder):
  """The `$ command` lines of a trial folder's train.log: one per trainer started."""
  return [l for l in open(os.path.join(out, folder, "train.log")) if l.startswith("$ ")]


def _trainers_of(number):
  """Processes whose command line is the trainer of trial `number` (Linux /proc)."""
  found = []
  for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
    try:
      text = open(cmdline, "rb").read().decode(errors="replace")
    except OSError:
      continue
    if ("t2t-trainer" in text or "t2t_trainer" in text) and \
        f"study_trial.trial_number = {number}\0" in text:
      found.append(cmdline)
  return found


def test_tpe_search_prunes_diverging_trials_across_two_workers_one_killed(data_dir, tmp_path):
  sweep = _sweep_file(tmp_path / "search.toml", data_dir, SEARCH)
  out = str(tmp_path / "lr")
  args = [f"--sweep_file={sweep}", f"--output_dir={out}", "--heartbeat_secs=1",
          "--progress_secs=600"]
  main, main_log = _start(tmp_path / "main.log", *args)
  worker, worker_log = _start(tmp_path / "worker.log", *args, "--worker")
  # The worker's first trial: once its checkpoint of step 10 is saved (it then evaluates
  # for seconds), kill the worker; its trainer must die with it.
  started = _wait_for(lambda: re.search(r"start trial (\d+) \(.*\) in (\S+)\n",
                                        open(worker_log.name).read()))
  killed, folder = int(started.group(1)), started.group(2)
  _wait_for(lambda: "/model.ckpt-10\n" in open(os.path.join(out, folder, "train.log")).read())
  worker.send_signal(signal.SIGKILL)
  worker.wait()
  worker_log.close()
  _wait_for(lambda: not _trainers_of(killed), timeout=10)
  # Restarted once the other worker's trial ended, so every later trial is asked when a
  # finished trial exists to judge it against.
  _wait_for(lambda: re.search(r"trial \d+ (finished|pruned)", open(main_log.name).read()))
  again, again_log = _start(tmp_path / "worker2.log", *args, "--worker")
  main_out = _finish(main, main_log)
  again_out = _finish(again, again_log)
  assert "done: 5 of 5 trials" in again_out

  study = optuna.load_study(study_name="lr", storage=f"sqlite:///{out}/study.db")
  trials = study.get_trials()
  attempts = {t.number: t for t in trials}
  # The killed attempt was failed for its silence and retried once, in its own folder,
  # from its checkpoint; the retry uses the budget instead.
  retries = [t for t in trials if t.user_attrs.get("retry_of") == killed]
  assert attempts[killed].state == optuna.trial.TrialState.FAIL and len(retries) == 1
  retry = retries[0]
  # (Judged like any trial: a retry whose sampled rate diverges is pruned after resuming.)
  assert retry.user_attrs["folder"] == folder and retry.state in (
      optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
  log = open(os.path.join(out, folder, "train.log")).read()
  assert len(_trainer_runs(out, folder)) == 2
  # (A run killed after saving a checkpoint evaluates it again when it resumes; that
  # evaluation is reported to the pruner, which may stop the retry there.)
  resumed = re.search(
      r"restored \S+model\.ckpt-10 \(step 10\)\n(eval at step 10 .*\n)?"
      rf"(training from step 10 to 20|stopping at step 10: trial {retry.number} pruned)",
      re.split(r"^\$ ", log, flags=re.M)[2])
  assert resumed, log
  if resumed.group(2).startswith("stopping"):
    assert resumed.group(1) and retry.state == optuna.trial.TrialState.PRUNED
  counted = [t for t in trials if t.number != killed and "rejected" not in t.user_attrs]
  assert len(counted) == 5 and all(t.state in (optuna.trial.TrialState.COMPLETE,
                                               optuna.trial.TrialState.PRUNED) for t in counted)
  # No trial ran twice: one trainer per folder (but the killed one's), folders distinct.
  folders = [t.user_attrs["folder"] for t in counted]
  assert len(set(folders)) == 5
  assert all(len(_trainer_runs(out, f)) == 1 for f in folders if f != folder)
  workers = {t.user_attrs["worker"] for t in trials}
  assert len(workers) >= 2  # the trials were shared

  # Diverging learning rates were pruned at their first evaluation, with a line saying why.
  lr = {t.number: t.user_attrs["overrides"]["hparams.learning_rate_constant"] for t in counted}
  # (The retry resumed at step 10: its first evaluation is a later one.)
  diverging = [t for t in counted if lr[t.number] >= 30 and t.number != retry.number]
  assert diverging
  for t in diverging:
    assert t.state == optuna.trial.TrialState.PRUNED
    assert max(t.intermediate_values) < TRAIN_STEPS
    trial_log = open(os.path.join(out, t.user_attrs["folder"], "train.log")).read()
    assert re.search(rf"stopping at step 10: trial {t.number} pruned by the Median pruner: "
                     r"neg_log_perplexity -\d+\S* at step 10; \d finished trial", trial_log), \
        trial_log
    assert os.path.exists(os.path.join(out, t.user_attrs["folder"], "model.ckpt-10.index"))
  best = study.best_trial
  assert 0.01 <= lr[best.number] <= 10 and best.value > -2.6

  with open(os.path.join(out, "summary.csv")) as f:
    rows = list(csv.DictReader(f))
  assert [int(r["trial"]) for r in rows][0] == best.number
  assert {r["status"] for r in rows} == {"finished", "pruned"} and len(rows) == 5
  by_number = sorted(rows, key=lambda r: int(r["trial"]))
  best_so_far = [float(r["best_so_far"]) for r in by_number if r["best_so_far"]]
  assert best_so_far == sorted(best_so_far) and best_so_far[-1] == pytest.approx(best.value)
  summary = open(os.path.join(out, "summary.md")).read()
  assert "## Progress (best so far against trial number)" in summary
  # Importance needs two finished trials; the pruner may have stopped all but one.
  finished = [t for t in counted if t.state == optuna.trial.TrialState.COMPLETE]
  if len(finished) >= 2:
    assert re.search(r"\| hparams.learning_rate_constant \| 1\.000 \|", summary)
  else:
    assert f"needs 2 or more finished trials (has {len(finished)})" in summary, summary
  assert "wrote " in main_out and os.path.getsize(os.path.join(out, "eval_curves.png")) > 10000

  # Rerunning the sweep continues the same study: nothing is left to run, nothing reruns.
  rerun = run("t2t-sweep", *args)
  assert "5 of 5 trials done" in rerun.stdout and "start trial" not in rerun.stdout
  printed = run("t2t-sweep", *args, "--print_commands").stdout.strip().splitlines()
  assert len(printed) == 5 and all(l.startswith("t2t-trainer ") for l in printed)
  assert all("study_trial.trial_number" in l for l in printed)


# -- PostgreSQL -----------------------------------------------------------------------------
def _postgres_binaries():
  """initdb and pg_ctl: on PATH, or where Debian's postgresql package puts them."""
  found = {}
  for name in ("initdb", "pg_ctl"):
    path = shutil.which(name) or next(iter(sorted(glob.glob(
        f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if path:
      found[name] = path
  return found


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture
def postgres_url():
  """A PostgreSQL server of its own on loopback, in a temporary folder, as the user
  `postgres` when the tests run as root (the server refuses root)."""
  found = _postgres_binaries()
  if len(found) < 2:
    message = ("PostgreSQL is not installed (no initdb/pg_ctl on PATH or in "
               "/usr/lib/postgresql/*/bin): install Debian's package 'postgresql' (.ci/run "
               "does: apt-get install postgresql)")
    if os.environ.get("CI"):
      pytest.fail(message)
    pytest.skip(message)
  as_user = []
  if os.geteuid() == 0:
    try:
      pwd.getpwnam("postgres")
    except KeyError:
      pytest.fail("the tests run as root, and PostgreSQL's server refuses root: it runs as the "
                  "user 'postgres', which Debian's package 'postgresql' makes; there is none")
    as_user = ["runuser", "-u", "postgres", "--"]
  folder = tempfile.mkdtemp(prefix="t2t_postgres_")  # not pytest's tmp: another user reads it
  if as_user:
    shutil.chown(folder, "postgres")
  data = os.path.join(folder, "data")
  port = _free_port()

  def server(*args):
    subprocess.run(as_user + list(args), check=True, capture_output=True, timeout=120)
  try:
    server(found["initdb"], "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
    server(found["pg_ctl"], "-D", data, "-l", os.path.join(folder, "server.log"), "-w",
           "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start")
    import psycopg
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres",
                         autocommit=True) as conn:
      conn.execute("CREATE DATABASE t2t_search")
    yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/t2t_search"
  finally:
    if os.path.exists(os.path.join(data, "postmaster.pid")):
      server(found["pg_ctl"], "-D", data, "-m", "fast", "-w", "stop")
    shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_a_postgresql_study_one_stopped(data_dir, tmp_path, postgres_url):
  sweep = _sweep_file(tmp_path / "pg.toml", data_dir, """
[search]
sampler = "random"
pruner = "none"
trials = 2
seed = 3
metric = "accuracy"
learning_rate_constant = {min = 0.1, max = 1.0, scale = "log"}
""")
  out = str(tmp_path / "pg")
  args = [f"--sweep_file={sweep}", f"--output_dir={out}", f"--storage={postgres_url}",
          "--study_name=pg_search", "--heartbeat_secs=5"]
  main, main_log = _start(tmp_path / "main.log", *args)
  worker, worker_log = _start(tmp_path / "worker.log", *args, "--worker")
  started = _wait_for(lambda: re.search(r"start trial (\d+) \(.*\) in (\S+)\n",
                                        open(worker_log.name).read()))
  stopped, folder = int(started.group(1)), started.group(2)
  _wait_for(lambda: "/model.ckpt-10\n" in open(os.path.join(out, folder, "train.log")).read())
  worker.send_signal(signal.SIGTERM)  # as a scheduler preempts: save, queue again, exit
  assert worker.wait(timeout=120) == 130
  worker_log.close()
  assert f"trial {stopped} stopped at step" in open(worker_log.name).read()
  main_out = _finish(main, main_log)
  assert not os.path.exists(os.path.join(out, "study.db"))  # the study is in PostgreSQL

  study = optuna.load_study(study_name="pg_search", storage=postgres_url)
  trials = study.get_trials()
  first = trials[stopped]
  assert first.state == optuna.trial.TrialState.FAIL and "interrupted" in first.user_attrs
  counted = [t for t in trials if t.number != stopped]
  assert [t.state for t in counted] == [optuna.trial.TrialState.COMPLETE] * 2
  retry = next(t for t in counted if t.user_attrs.get("retry_of") == stopped)
  assert retry.user_attrs["folder"] == folder and retry.params == first.params
  # Both workers trained; the stopped trial resumed from its checkpoint in its folder.
  assert len({t.user_attrs["worker"] for t in trials}) == 2
  assert len(_trainer_runs(out, folder)) == 2
  assert re.search(r"restored \S+model\.ckpt-(\d+) \(step \1\)\ntraining from step \1 to 20",
                   re.split(r"^\$ ", open(os.path.join(out, folder, "train.log")).read(),
                            flags=re.M)[2])
  other = next(t for t in counted if t is not retry)
  # Its trainer reported every evaluation to the PostgreSQL study itself.
  assert sorted(other.intermediate_values) == [10, TRAIN_STEPS]
  assert len(_trainer_runs(out, other.user_attrs["folder"])) == 1
  with open(os.path.join(out, "summary.csv")) as f:
    assert len(list(csv.DictReader(f))) == 2
  assert "study 'pg_search' in postgresql+psycopg://postgres@127.0.0.1" in main_out


def test_search_mistakes_start_nothing(data_dir, tmp_path):
  sweep = _sweep_file(tmp_path / "bad.toml", data_dir, SEARCH.replace(
      "learning_rate_constant", "learning_rate_constnat"))
  out = tmp_path / "bad"
  proc = run("t2t-sweep", f"--sweep_file={sweep}", f"--output_dir={out}", check=False)
  assert proc.returncode == 2
  lines = error_lines(proc.stderr)
  assert len(lines) == 1, proc.stderr
  assert lines[0].startswith("t2t-sweep: error: [search] hparams.learning_rate_constnat = "
                             "0.001 (an end of its range): unknown hparam "
                             "'learning_rate_constnat'")
  assert "did you mean learning_rate_constant" in lines[0]
  assert not out.exists()
