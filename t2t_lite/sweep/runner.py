"""Runs a sweep's trials as t2t-trainer subprocesses, N at a time, with progress lines.

A trial is finished when its eval summaries reach its train_steps; a rerun skips those and
starts the others, which resume from their own checkpoints (the trainer's resume). Each
trial's output goes to TRIAL_DIR/train.log. SIGTERM or Ctrl-C passes one SIGTERM to every
running trial (each saves a checkpoint and exits), so rerunning the sweep continues.
"""
import ctypes
import ctypes.util
import os
import re
import shlex
import signal
import subprocess
import sys
import time

from t2t_lite.sweep import report
from t2t_lite.training import preemption

LOG_FILE = "train.log"
LOCAL_TRAINER = (sys.executable, "-m", "t2t_lite.bin.t2t_trainer")
STEP_LINE = re.compile(r"^step (\d+)/(\d+)")


def command(sweep, trial, sweep_dir, extra_files=(), extra_params=(),
            program=("t2t-trainer",)):
  """The trainer's argv for a trial: the gin files, then its bindings, then output_dir."""
  args = list(program)
  args += [f"--gin_file={os.path.abspath(f)}" for f in list(extra_files) + sweep.gin_files]
  args += [f"--gin_param={b}" for b in sweep.bindings(trial, extra_params)]
  if sweep.t2t_usr_dir:
    args.append(f"--t2t_usr_dir={sweep.t2t_usr_dir}")
  args.append(f"--output_dir={os.path.join(os.path.abspath(sweep_dir), trial.name)}")
  return args


def shell_command(args):
  return shlex.join(args)


def _parent_death_signal():
  """A preexec_fn that makes the child die with the process that started it (Linux's
  PR_SET_PDEATHSIG), or None elsewhere. Resolved here, in the parent: after fork the child
  only makes the call."""
  libc_name = ctypes.util.find_library("c")
  if not sys.platform.startswith("linux") or not libc_name:
    return None
  prctl = ctypes.CDLL(libc_name, use_errno=True).prctl
  parent = os.getpid()

  def die_with_parent():
    prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the call
      os._exit(1)
  return die_with_parent


def start_trainer(args, trial_dir, headers=(), shown_args=None):
  """Starts a trial's trainer with its output appended to TRIAL_DIR/train.log, after a
  `$ command` line (shown_args: the command as logged, e.g. without a password) and
  `headers`. Returns (process, log file).

  The trainer gets a session of its own, so the sweep alone decides which signal it gets,
  and dies with the sweep (Linux): a trainer never outlives the worker that started it,
  so a trial taken over by another worker never has two trainers."""
  os.makedirs(trial_dir, exist_ok=True)
  log_file = open(os.path.join(trial_dir, LOG_FILE), "a")  # pylint: disable=consider-using-with
  log_file.write(f"$ {shell_command(shown_args or args)}\n")
  for line in headers:
    log_file.write(f"# {line}\n")
  log_file.flush()
  proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"),
                          start_new_session=True, preexec_fn=_parent_death_signal())
  return proc, log_file


def is_finished(trial_dir, train_steps):
  return report.final_step(report.eval_curves(trial_dir)) >= train_steps


def last_line(path, pattern=None):
  try:
    with open(path, errors="replace") as f:
      lines = f.read()[-20000:].splitlines()
  except OSError:
    return ""
  for line in reversed(lines):
    if line.strip() and (pattern is None or pattern.search(line)):
      return line.strip()
  return ""


def error_line(path):
  return last_line(path, re.compile(r"error|Error|Traceback")) or last_line(path)


def progress(trial_dir):
  """'step N/M' of a running trainer, from its log."""
  line = last_line(os.path.join(trial_dir, LOG_FILE), STEP_LINE)
  return line.split("  ")[0] if line else "starting"


class Runner:
  """Starts, watches and reports the trials that are not finished yet."""

  def __init__(self, sweep, checked, sweep_dir, extra_files=(), extra_params=(), parallel=1,
               progress_secs=30.0, log=None, program=LOCAL_TRAINER):
    self.sweep, self.checked, self.sweep_dir = sweep, checked, sweep_dir
    self.extra_files, self.extra_params = extra_files, extra_params
    self.parallel = max(1, parallel)
    self.progress_secs = progress_secs
    self.log = log or (lambda message: print(message, flush=True))
    self.program = program
    self.status = {}  # trial name -> finished / failed / interrupted / stopped early

  def trial_dir(self, trial):
    return os.path.join(self.sweep_dir, trial.name)

  def run(self):
    """Runs what is left; returns {trial name: status}."""
    trials = self.sweep.trials
    todo = []
    for t in trials:
      if is_finished(self.trial_dir(t), self.checked[t.name].train_steps):
        self.status[t.name] = "finished"
      else:
        todo.append(t)
    total = len(trials)
    self.log(f"{total} trials in {self.sweep_dir}: {total - len(todo)} finished, "
             f"{len(todo)} to run, {self.parallel} at a time")
    for t in trials:
      if self.status.get(t.name) == "finished":
        self.log(f"  skip {t.name} (finished)")
    running = {}  # name -> (trial, process, start time, log file)
    done = total - len(todo)
    last_progress = time.time()
    with preemption.StopRequest() as stop:
      while (todo or running) and not stop:
        while todo and len(running) < self.parallel:
          t = todo.pop(0)
          running[t.name] = self._start(t)
          self.log(f"[{done + len(running)}/{total}] start {t.name}")
        time.sleep(0.5)
        for name in list(running):
          t, proc, started, log_file = running[name]
          if proc.poll() is None:
            continue
          log_file.close()
          del running[name]
          done += 1
          self._finish(t, proc.returncode, time.time() - started, done, total)
        if running and time.time() - last_progress >= self.progress_secs:
          last_progress = time.time()
          self.log("  running: " + "; ".join(self._progress(t) for t, *_ in running.values()))
      if stop:
        self._stop(running)
    return self.status

  def _progress(self, trial):
    return f"{trial.name} {progress(self.trial_dir(trial))}"

  def _start(self, trial):
    args = command(self.sweep, trial, self.sweep_dir, self.extra_files, self.extra_params,
                   self.program)
    proc, log_file = start_trainer(args, self.trial_dir(trial))
    return trial, proc, time.time(), log_file

  def _finish(self, trial, returncode, seconds, done, total):
    log_path = os.path.join(self.trial_dir(trial), LOG_FILE)
    curves = report.eval_curves(self.trial_dir(trial))
    if returncode == 0 and report.final_step(curves) >= self.checked[trial.name].train_steps:
      self.status[trial.name] = "finished"
      metrics = "  ".join(f"{k} {v:.4f}" for k, v in report.final_metrics(curves).items())
      self.log(f"[{done}/{total}] done  {trial.name} in {seconds:.0f}s: {metrics}")
    elif returncode == 0:
      self.status[trial.name] = "stopped early"
      self.log(f"[{done}/{total}] {trial.name} stopped before train_steps "
               f"({last_line(log_path)}); rerun the sweep to resume it")
    else:
      self.status[trial.name] = "failed"
      self.log(f"[{done}/{total}] FAILED {trial.name} (exit {returncode}): "
               f"{error_line(log_path)} [see {log_path}]")

  def _stop(self, running):
    self.log(f"stopping: asking {len(running)} running trial(s) to save and exit")
    for _, proc, _, _ in running.values():
      if proc.poll() is None:
        proc.terminate()
    for name, (_, proc, _, log_file) in running.items():
      proc.wait()
      log_file.close()
      self.status[name] = "interrupted"
    self.log("stopped; rerun the same t2t-sweep command to resume")
