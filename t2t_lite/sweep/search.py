"""Runs a [search]'s trials: asks the study for a trial, checks it, trains it as a
t2t-trainer subprocess and tells the study how it ended. Any number of workers, on one
machine or many, run the same loop on one study, each up to --parallel trials at a time.

- **Budget.** A worker asks for trials while fewer than `trials` use the budget
  (study.counted): samples the model rejects before they start do not. A trial asked
  beyond the budget by two workers at once is dropped (`surplus`), so the study ends with
  exactly `trials`.
- **Pruning** happens inside the trainer (sweep/pruning.py), which marks the trial pruned.
- **Workers that die or stop.** Each worker records a heartbeat of its running trials in
  the study. A worker that stops (SIGTERM, Ctrl-C) asks its trainers to save and exit and
  queues their trials again at once; one that dies takes its trainers with it (runner.
  start_trainer), and after three missed heartbeats the next worker that looks fails its
  trials and queues them again (study.requeue). A queued trial is taken by exactly one
  worker (Optuna moves it from WAITING to RUNNING atomically) and resumes in its own
  folder from its last checkpoint. A worker whose trial was given away meanwhile (it was
  silent too long, not dead) kills its trainer at its next heartbeat.
- A worker ends when the budget is used and no trial is running or queued anywhere: it
  waits for trials running elsewhere, so it can take them over if their worker dies.
"""
import dataclasses
import os
import re
import threading
import time

import optuna
import sqlalchemy
from optuna.trial import TrialState

from t2t_lite import gin_config
from t2t_lite.errors import UserError
from t2t_lite.sweep import report, runner, spec, validate
from t2t_lite.sweep import study as study_lib
from t2t_lite.training import preemption

# A search whose samples the model keeps rejecting stops, rather than sampling forever.
MAX_REJECTED_IN_A_ROW = 20
POLL_SECS = 1.0
_STOPPED_BY_SIGNAL = re.compile(r"^received SIG\w+ at step", re.M)


def _this_run(log_path):
  """The output of the last trainer in a train.log (after its `$ command` line)."""
  try:
    with open(log_path, errors="replace") as f:
      text = f.read()
  except OSError:
    return ""
  return text[text.rfind("\n$ ") + 1:] if "\n$ " in text else text


@dataclasses.dataclass
class Running:
  trial: optuna.Trial
  trial_id: int
  folder: str
  checked: validate.Checked
  proc: object
  log_file: object
  started: float

  @property
  def number(self):
    return self.trial.number


class SearchWorker:
  """One worker of a search (see the module docstring)."""

  def __init__(self, *, sweep, study, storage, storage_url, sweep_dir, extra_files=(),
               extra_params=(), parallel=1, progress_secs=30.0, heartbeat_secs=60,
               program=runner.LOCAL_TRAINER, log=None):
    self.sweep, self.search = sweep, sweep.search
    self.study, self.storage, self.storage_url = study, storage, storage_url
    self.sweep_dir = sweep_dir
    self.extra_files, self.extra_params = list(extra_files), list(extra_params)
    self.parallel = max(1, parallel)
    self.progress_secs, self.heartbeat_secs = progress_secs, heartbeat_secs
    self.program = program
    self.log = log or (lambda message: print(message, flush=True))
    spec_ = study.user_attrs[study_lib.SPEC_ATTR]
    self.metric, self.direction = spec_["metric"], spec_["direction"]
    self.study_id = storage.get_study_id_from_name(study.study_name)
    self.name = study_lib.worker_name()
    self.running = {}  # trial number -> Running
    self.rejected_in_a_row = 0

  # -- commands ---------------------------------------------------------------------------
  def study_bindings(self, number, url=None):
    """The bindings that make a trainer report to trial `number` (sweep/pruning.py)."""
    return [f"study_trial.storage = {gin_config.literal(url or self.storage_url)}",
            f"study_trial.study_name = {gin_config.literal(self.study.study_name)}",
            f"study_trial.trial_number = {number}"]

  def command(self, number, overrides, folder, program=None, url=None):
    trial = spec.Trial(number, overrides, folder)
    return runner.command(self.sweep, trial, self.sweep_dir, self.extra_files,
                          self.extra_params + self.study_bindings(number, url),
                          program or self.program)

  def trial_dir(self, folder):
    return os.path.join(self.sweep_dir, folder)

  # -- the loop ---------------------------------------------------------------------------
  def _trials(self):
    return self.study.get_trials(deepcopy=False)

  def done_count(self, trials=None):
    trials = self._trials() if trials is None else trials
    return sum(t.state.is_finished() for t in study_lib.counted(trials))

  def run(self):
    """Runs trials until the search is done; returns 'done' or 'interrupted'."""
    trials = self._trials()
    done = self.done_count(trials)
    self.log(f"study '{self.study.study_name}' in {study_lib.shown_url(self.storage_url)}: "
             f"{done} of {self.search.trials} trials done; worker {self.name} runs up to "
             f"{self.parallel} at a time")
    beat_stop = threading.Event()
    beat = threading.Thread(target=self._heartbeat, args=(beat_stop,), daemon=True)
    last_stale_check, last_progress = 0.0, time.time()
    with preemption.StopRequest() as stop:
      beat.start()  # beats until every trainer of this worker has exited
      try:
        while not stop:
          self._reap()
          now = time.time()
          if now - last_stale_check >= self.heartbeat_secs:
            # Trials of workers that fell silent: failed and queued again (study.requeue).
            optuna.storages.fail_stale_trials(self.study)
            last_stale_check = now
          trials = self._trials()
          queued = any(t.state == TrialState.WAITING for t in trials)
          left = self.search.trials - len(study_lib.counted(trials))
          if len(self.running) < self.parallel and (queued or left > 0):
            self._start_next()
            continue
          elsewhere = [t for t in trials
                       if t.state == TrialState.RUNNING and t.number not in self.running]
          if not self.running and not queued and left <= 0 and not elsewhere:
            break
          if now - last_progress >= self.progress_secs:
            last_progress = now
            self._log_progress(elsewhere)
          time.sleep(POLL_SECS)
        if stop:
          self._stop(stop.signal_name)
          return "interrupted"
      except BaseException:
        if self.running:
          self._stop("an error")  # the trials are queued again, not left running
        raise
      finally:
        beat_stop.set()
    return "done"

  def _log_progress(self, elsewhere):
    parts = [f"trial {r.number} {runner.progress(self.trial_dir(r.folder))}"
             for r in self.running.values()]
    if elsewhere:
      parts.append(f"{len(elsewhere)} on other workers ("
                   + ", ".join(f"trial {t.number} on {t.user_attrs.get(study_lib.WORKER, '?')}"
                               for t in elsewhere[:4]) + ")")
    self.log("  running: " + "; ".join(parts))

  def _heartbeat(self, stop):
    while not stop.wait(self.heartbeat_secs):
      for r in list(self.running.values()):
        try:
          self.storage.record_heartbeat(r.trial_id)
          state = self.storage.get_trial(r.trial_id).state
        except sqlalchemy.exc.SQLAlchemyError as e:
          self.log(f"WARNING: could not record the heartbeat of trial {r.number} "
                   f"({str(e).splitlines()[0][:120]})")
          continue
        if state == TrialState.FAIL and r.proc.poll() is None:
          self.log(f"trial {r.number} was given to another worker (this one was silent for "
                   f"{3 * self.heartbeat_secs}s): stopping its trainer here")
          r.proc.kill()

  # -- starting a trial -------------------------------------------------------------------
  def _start_next(self):
    trial = self.study.ask()
    number = trial.number
    trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
    attrs = trial.user_attrs
    retry_of = attrs.get(study_lib.RETRY_OF)
    if study_lib.OVERRIDES in attrs:  # a retry: same bindings, same folder, its checkpoint
      overrides, folder = attrs[study_lib.OVERRIDES], attrs[study_lib.FOLDER]
      try:
        checked = validate.check_trial(self.sweep, spec.Trial(number, overrides, folder),
                                       self.extra_files, self.extra_params)
      except UserError as e:  # this machine cannot run it (e.g. no data here)
        self._requeue(trial, f"worker {self.name} could not start it: {e}")
        raise UserError(f"this worker cannot run trial {number} ({e}); it is queued again "
                        "for another worker") from None
    else:
      overrides = study_lib.suggest(trial, self.search.ranges)
      before = [t for t in study_lib.counted(self._trials()) if t.number < number]
      if len(before) >= self.search.trials:  # another worker asked for the last one too
        trial.set_user_attr(study_lib.SURPLUS, "asked beyond the budget")
        self.study.tell(trial, state=TrialState.FAIL)
        return
      folder = f"{number:04d}-{spec.trial_name(overrides)}"
      try:
        checked = validate.check_trial(self.sweep, spec.Trial(number, overrides, folder),
                                       self.extra_files, self.extra_params)
      except UserError as e:
        self._reject(trial, str(e))
        return
      self.rejected_in_a_row = 0
      trial.set_user_attr(study_lib.OVERRIDES, overrides)
      trial.set_user_attr(study_lib.FOLDER, folder)
    trial.set_user_attr(study_lib.WORKER, self.name)
    self.storage.record_heartbeat(trial_id)
    label = spec.Trial(number, overrides, folder).label()
    again = (f", retry of trial {retry_of}: resumes from this folder's checkpoint"
             if retry_of is not None else "")
    headers = [f"trial {number} of study '{self.study.study_name}'{again}; worker "
               f"{self.name}, {time.strftime('%Y-%m-%d %H:%M:%S')}"]
    shown = self.command(number, overrides, folder, url=study_lib.shown_url(self.storage_url))
    proc, log_file = runner.start_trainer(self.command(number, overrides, folder),
                                          self.trial_dir(folder), headers, shown)
    self.running[number] = Running(trial, trial_id, folder, checked, proc, log_file,
                                   time.time())
    self.log(f"[{self.done_count()}/{self.search.trials}] start trial {number} ({label})"
             + (f", retry of trial {retry_of}" if retry_of is not None else "")
             + f" in {folder}")

  def _reject(self, trial, message):
    """A sample the model's checks refuse: failed before it starts, not counted."""
    self.rejected_in_a_row += 1
    trial.set_user_attr(study_lib.REJECTED, message)
    self.study.tell(trial, state=TrialState.FAIL)
    self.log(f"rejected before start (sampling again): {message}")
    if self.rejected_in_a_row >= MAX_REJECTED_IN_A_ROW:
      raise UserError(f"the model rejected {MAX_REJECTED_IN_A_ROW} samples of the [search] "
                      f"space in a row (last: {message}); narrow the ranges to valid "
                      "combinations")

  def _requeue(self, trial, reason):
    """Queues the trial again (first, so it is never missing from the budget), then ends
    this attempt."""
    study_lib.requeue(self.study, self.storage.get_trial(
        self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)))
    trial.set_user_attr(study_lib.INTERRUPTED, reason)
    self.study.tell(trial, state=TrialState.FAIL)

  # -- ending a trial ---------------------------------------------------------------------
  def _reap(self):
    for number, r in list(self.running.items()):
      if r.proc.poll() is None:
        continue
      r.log_file.close()
      del self.running[number]
      self._finish(r, r.proc.returncode)

  def _finish(self, r, returncode, interrupted=False):
    seconds = time.time() - r.started
    log_path = os.path.join(self.trial_dir(r.folder), runner.LOG_FILE)
    frozen = self.storage.get_trial(r.trial_id)
    if frozen.state == TrialState.PRUNED:
      self.log(f"[{self.done_count()}/{self.search.trials}] trial {r.number} "
               f"{frozen.user_attrs.get(study_lib.PRUNED, 'pruned')} ({seconds:.0f}s)")
      return
    if frozen.state != TrialState.RUNNING:
      self.log(f"trial {r.number} ended here as {study_lib.status(frozen)}: another worker "
               "owns it now")
      return
    curves = report.eval_curves(self.trial_dir(r.folder))
    step = report.final_step(curves)
    value = report.final_metrics(curves).get(self.metric)
    stopped = returncode == 0 and step < r.checked.train_steps and \
        _STOPPED_BY_SIGNAL.search(_this_run(log_path)) is not None
    if returncode == 0 and value is not None and step >= r.checked.train_steps:
      self.study.tell(r.trial, value)
      best = study_lib.best_trial(self._trials(), self.direction)
      metrics = "  ".join(f"{k} {v:.4f}" for k, v in report.final_metrics(curves).items())
      self.log(f"[{self.done_count()}/{self.search.trials}] trial {r.number} finished in "
               f"{seconds:.0f}s: {metrics} (best so far: trial {best.number}, "
               f"{self.metric} {best.value:.4g})")
    elif interrupted or stopped:
      self._requeue(r.trial, f"stopped at step {step}")
      self.log(f"trial {r.number} stopped at step {step}: queued again; the next worker "
               "resumes it from its checkpoint")
    elif returncode == 0 and value is not None:  # another listener ended it early
      self.study.tell(r.trial, value)
      self.log(f"[{self.done_count()}/{self.search.trials}] trial {r.number} stopped early "
               f"at step {step} ({runner.last_line(log_path)}): {self.metric} {value:.4g}")
    else:
      error = (runner.error_line(log_path) if returncode
               else f"ended at step {step} without an evaluation of {self.metric}")
      r.trial.set_user_attr(study_lib.ERROR, error)
      self.study.tell(r.trial, state=TrialState.FAIL)
      self.log(f"[{self.done_count()}/{self.search.trials}] FAILED trial {r.number} (exit "
               f"{returncode}): {error} [see {log_path}]")

  def _stop(self, why):
    if not self.running:
      return
    self.log(f"stopping ({why}): asking {len(self.running)} running trial(s) to save and exit")
    for r in self.running.values():
      if r.proc.poll() is None:
        r.proc.terminate()
    for r in list(self.running.values()):
      returncode = r.proc.wait()
      r.log_file.close()
      self._finish(r, returncode, interrupted=True)
    self.running = {}
    self.log("stopped; the interrupted trials are queued again: rerun t2t-sweep (or start a "
             "worker) to resume them from their checkpoints")


def trial_commands(sweep, sweep_dir, url, name, description, extra_files=(), extra_params=()):
  """The t2t-trainer command of every trial the study has made so far, in trial order (a
  search makes its trials as it goes), or None when there is no such study yet."""
  exists = not url.startswith("sqlite:///") or os.path.exists(url[len("sqlite:///"):])
  storage = study_lib.open_storage(url) if exists else None
  study = study_lib.load_study(storage, name) if storage else None
  if study is None or study_lib.SPEC_ATTR not in study.user_attrs:
    return None
  study_lib.open_study(storage, name, description)  # the same search, or a one-line error
  worker = SearchWorker(sweep=sweep, study=study, storage=storage, storage_url=url,
                        sweep_dir=sweep_dir, extra_files=extra_files, extra_params=extra_params)
  return [worker.command(t.number, t.user_attrs[study_lib.OVERRIDES],
                         t.user_attrs[study_lib.FOLDER], ("t2t-trainer",))
          for t in sorted(study_lib.counted(study.get_trials(deepcopy=False)),
                          key=lambda t: t.number)
          if study_lib.OVERRIDES in t.user_attrs]
