"""The Optuna side of a [search]: its study in a database, the sampler and the pruner, which
trials use the budget, retries of interrupted trials, and hyperparameter importances.

The study lives in a relational database that every worker opens by URL: SQLite in the
sweep's folder by default (one machine), or any SQLAlchemy URL (PostgreSQL, MySQL) that
workers on several machines share. What defines the search (its space, metric, pruner,
[base] and gin files) is kept in the study's user attribute `t2t_sweep`, so a worker
started with another sweep file is refused, and t2t-trainer rebuilds the same pruner from
it when it reports an evaluation (sweep/pruning.py).

A trial's own user attributes say what the sweep made of it: `overrides` (its bindings),
`folder` (its trial folder), `worker` (host:pid), and `rejected`, `surplus`, `error`,
`interrupted` or `pruned` (why it ended). A retry is a new Optuna trial with the same
params, folder and overrides, `retry_of` (the first attempt's number) and Optuna's
`retry_history` system attribute.
"""
import hashlib
import json
import logging
import os
import socket
import time
import warnings

import optuna
import sqlalchemy
from optuna.trial import TrialState

from t2t_lite.errors import UserError
from t2t_lite.sweep import ranges

STUDY_DB = "study.db"
SPEC_ATTR = "t2t_sweep"
OVERRIDES, FOLDER, WORKER, RETRY_OF = "overrides", "folder", "worker", "retry_of"
REJECTED, SURPLUS, ERROR, INTERRUPTED, PRUNED = (
    "rejected", "surplus", "error", "interrupted", "pruned")
# A [reverse_log] range is searched as its mirror image (high + low - x) on a log scale.
REFLECTED = "@reverse_log"
STATUS = {TrialState.COMPLETE: "finished", TrialState.PRUNED: "pruned",
          TrialState.FAIL: "failed", TrialState.RUNNING: "running", TrialState.WAITING: "queued"}
TPE_STARTUP_TRIALS, CMAES_STARTUP_TRIALS, MEDIAN_STARTUP_TRIALS = 10, 1, 5  # Optuna's


def quiet():
  """Optuna's own INFO lines and its experimental-feature warnings off: the sweep prints
  one line per trial itself."""
  optuna.logging.set_verbosity(optuna.logging.WARNING)
  warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
  # ask/tell drives the heartbeat here instead of Study.optimize, on purpose.
  warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
  logging.getLogger("alembic").setLevel(logging.WARNING)


def default_storage(sweep_dir):
  return "sqlite:///" + os.path.join(os.path.abspath(sweep_dir), STUDY_DB)


def shown_url(url):
  """The storage URL without its password, for messages."""
  try:
    return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
  except sqlalchemy.exc.ArgumentError:
    return url


def worker_name():
  return f"{socket.gethostname()}:{os.getpid()}"


# -- storage and study ------------------------------------------------------------------------
def open_storage(url, heartbeat_secs=None, attempts=4):
  """The RDB storage at `url`; with heartbeat_secs, trials whose worker missed three
  heartbeats are failed by the next worker that looks, and queued again (requeue)."""
  if url.startswith("sqlite"):
    # Workers and trainers write the same file; wait for its lock rather than fail.
    engine_kwargs = {"connect_args": {"timeout": 60}}
  else:
    engine_kwargs = {"pool_pre_ping": True}  # a search outlives idle connections
  heartbeat = {}
  if heartbeat_secs:
    # Three beats, not Optuna's two: a beat delayed by a busy database is no death.
    heartbeat = dict(heartbeat_interval=heartbeat_secs, grace_period=3 * heartbeat_secs,
                     heartbeat_stale_trial_callback=requeue)
  for attempt in range(attempts):
    try:
      return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
    except sqlalchemy.exc.ArgumentError as e:
      raise UserError(f"--storage={shown_url(url)} is not a database URL ({e}); use e.g. "
                      "postgresql+psycopg://user@host/db or sqlite:///path/study.db") from None
    except ImportError as e:  # Optuna wraps the driver's ModuleNotFoundError
      missing = getattr(e.__cause__, "name", None) or getattr(e, "name", None) or str(e)
      raise UserError(f"--storage={shown_url(url)} needs the database driver '{missing}': "
                      "pip install it (PostgreSQL: pip install 't2t-lite[postgresql]')") from None
    except sqlalchemy.exc.DBAPIError as e:
      # Two workers that start together both create the tables: the loser retries.
      if attempt + 1 == attempts:
        first = str(e.orig or e).strip().splitlines()[0][:200]
        raise UserError(f"cannot open the study database {shown_url(url)} ({first})") from None
      time.sleep(0.5 * 2 ** attempt)
  raise AssertionError("unreachable")


def fingerprint(sweep, extra_files=(), extra_params=()):
  """What makes two workers run the same search: the space and its settings, [base], the
  gin files' contents and t2t-sweep's bindings (not the budget, which may grow)."""
  gin_texts = []
  for path in list(extra_files) + list(sweep.gin_files):
    with open(os.path.expanduser(path)) as f:
      gin_texts.append(f.read())
  text = json.dumps({"search": sweep.search.describe(), "base": sweep.base, "gin": gin_texts,
                     "gin_params": list(extra_params)}, sort_keys=True, default=str)
  return hashlib.sha1(text.encode()).hexdigest()[:16]


def description(sweep, checked, direction, extra_files=(), extra_params=()):
  """The study's `t2t_sweep` attribute: what the trainers and the report need to know."""
  search = sweep.search
  return {"fingerprint": fingerprint(sweep, extra_files, extra_params),
          "sweep_file": sweep.path, "metric": search.metric, "direction": direction,
          "pruner": search.pruner, "pruner_options": pruner_options(search, checked),
          "train_steps": checked.train_steps}


def open_study(storage, name, spec, sampler=None, pruner=None):
  """Creates the study or joins it; refuses one made by a different search."""
  try:
    study = optuna.create_study(study_name=name, storage=storage, direction=spec["direction"],
                                sampler=sampler, pruner=pruner, load_if_exists=True)
  except sqlalchemy.exc.DBAPIError as e:
    raise UserError(f"cannot open study '{name}' ({str(e.orig or e).splitlines()[0][:200]})"
                    ) from None
  stored = study.user_attrs.get(SPEC_ATTR)
  if stored is None:
    study.set_user_attr(SPEC_ATTR, spec)
  elif stored["fingerprint"] != spec["fingerprint"]:
    raise UserError(f"study '{name}' was made by another search ({stored['sweep_file']}: its "
                    "[search], [base] or gin files differ); run the same sweep file, or give "
                    "this one another --study_name")
  return study


def load_study(storage, name, sampler=None, pruner=None):
  """An existing study, or None."""
  try:
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
  except KeyError:  # Optuna's "no such study"
    return None


# -- sampler and pruner -----------------------------------------------------------------------
class TrialSeededSampler(optuna.samplers.BaseSampler):
  """Draws each trial with a fresh sampler seeded by the search's seed and the trial's
  number: one worker repeats its search exactly, and several workers, or a restarted one,
  never share a random sequence (the same seed in every worker would draw the same
  trials). TPE and CMA-ES keep what they learn in the study, not in the sampler."""

  def __init__(self, make, seed):
    self._make, self._seed = make, seed
    self._inner = make(seed)

  def before_trial(self, study, trial):
    self._inner = self._make((self._seed * 1_000_003 + trial.number) % 2 ** 32)
    self._inner.before_trial(study, trial)

  def infer_relative_search_space(self, study, trial):
    return self._inner.infer_relative_search_space(study, trial)

  def sample_relative(self, study, trial, search_space):
    return self._inner.sample_relative(study, trial, search_space)

  def sample_independent(self, study, trial, param_name, param_distribution):
    return self._inner.sample_independent(study, trial, param_name, param_distribution)

  def after_trial(self, study, trial, state, values):
    self._inner.after_trial(study, trial, state, values)

  def reseed_rng(self):
    self._inner.reseed_rng()


def make_sampler(search):
  options = search.sampler_options

  def make(seed):
    if search.sampler == "tpe":
      # constant_liar: trials still running count as bad guesses, so parallel workers
      # spread out instead of sampling the same promising point.
      return optuna.samplers.TPESampler(
          seed=seed, constant_liar=True,
          n_startup_trials=options.get("startup_trials", TPE_STARTUP_TRIALS))
    if search.sampler == "cmaes":
      return optuna.samplers.CmaEsSampler(
          seed=seed, n_startup_trials=options.get("startup_trials", CMAES_STARTUP_TRIALS),
          independent_sampler=optuna.samplers.RandomSampler(seed=seed),
          warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=seed)
  return TrialSeededSampler(make, search.seed)


def pruner_options(search, checked):
  """The pruner's options with the defaults that depend on the trials: resources are
  global steps, from the first evaluation to train_steps."""
  options = dict(search.pruner_options)
  if search.pruner in ("successive_halving", "hyperband"):
    options.setdefault("min_resource", checked.local_eval_frequency)
  if search.pruner == "hyperband":
    options.setdefault("max_resource", checked.train_steps)
    if options["min_resource"] > options["max_resource"]:
      raise UserError(f"[search] pruner hyperband: min_resource {options['min_resource']} > "
                      f"max_resource {options['max_resource']}")
  return options


def make_pruner(name, options):
  if name == "median":
    return optuna.pruners.MedianPruner(
        n_startup_trials=options.get("startup_trials", MEDIAN_STARTUP_TRIALS),
        n_warmup_steps=options.get("warmup_steps", 0))
  if name == "successive_halving":
    return optuna.pruners.SuccessiveHalvingPruner(
        min_resource=options["min_resource"],
        reduction_factor=options.get("reduction_factor", 4),
        min_early_stopping_rate=options.get("min_early_stopping_rate", 0))
  if name == "hyperband":
    return optuna.pruners.HyperbandPruner(
        min_resource=options["min_resource"], max_resource=options["max_resource"],
        reduction_factor=options.get("reduction_factor", 3))
  return optuna.pruners.NopPruner()


def pruner_of(spec):
  return make_pruner(spec["pruner"], spec["pruner_options"])


# -- trials -----------------------------------------------------------------------------------
def suggest(trial, search_ranges):
  """The bindings of a new trial, each drawn by the study's sampler."""
  out = {}
  for key, r in search_ranges.items():
    if r.choices is not None:
      out[key] = trial.suggest_categorical(key, r.choices)
      continue
    suggest_number = trial.suggest_int if r.kind is int else trial.suggest_float
    low, high = r.kind(r.low), r.kind(r.high)
    if r.scale == ranges.REVERSE_LOG_SCALE:  # dense near high: log-uniform mirrored
      value = high + low - suggest_number(key + REFLECTED, low, high, log=True)
      out[key] = value if r.kind is int else float(f"{value:.12g}")
    else:
      out[key] = suggest_number(key, low, high, log=r.scale == ranges.LOG_SCALE)
  return out


def param_key(name):
  """The binding key of an Optuna param."""
  return name.removesuffix(REFLECTED)


def retried_numbers(trials):
  return {n for t in trials for n in t.system_attrs.get("retry_history", [])}


def counted(trials):
  """The trials that use the budget: all but samples rejected before they started, asks
  beyond the budget, and attempts that were retried (the retry counts instead)."""
  retried = retried_numbers(trials)
  return [t for t in trials if not (t.state == TrialState.FAIL and (
      REJECTED in t.user_attrs or SURPLUS in t.user_attrs or t.number in retried))]


def requeue(study, trial):
  """Queues a new attempt of `trial` (same params, bindings and folder): the next worker
  that asks for a trial takes it and resumes from the folder's checkpoint. Used for the
  trials of a worker that was stopped, and (as the storage's heartbeat callback) of one
  that fell silent."""
  history = list(trial.system_attrs.get("retry_history", [])) + [trial.number]
  study.add_trial(optuna.trial.create_trial(
      state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
      user_attrs={**{k: trial.user_attrs[k] for k in (OVERRIDES, FOLDER)
                     if k in trial.user_attrs}, RETRY_OF: history[0]},
      system_attrs={"failed_trial": history[0], "retry_history": history}))


def status(trial):
  return STATUS.get(trial.state, trial.state.name.lower())


def best_trial(trials, direction):
  finished = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
  if not finished:
    return None
  pick = max if direction == "maximize" else min
  return pick(finished, key=lambda t: t.value)


def importances(study):
  """({binding key: importance}, how they were computed): Optuna's default evaluator
  (PED-ANOVA) over the finished trials."""
  finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
  if len(finished) < 2:
    return {}, f"needs 2 or more finished trials (has {len(finished)})"
  try:
    found = optuna.importance.get_param_importances(study)
  except (RuntimeError, ValueError, ZeroDivisionError) as e:
    return {}, f"Optuna could not compute them ({str(e).splitlines()[0][:120]})"
  return ({param_key(k): float(v) for k, v in found.items()},
          f"PED-ANOVA (Optuna's default evaluator) over {len(finished)} finished trials")
