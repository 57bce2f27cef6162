"""Checks every trial of a sweep in this process before any trial starts.

Each trial's gin configuration is parsed and resolved exactly as t2t-trainer will: unknown
configurables, parameters, registry names and hparam keys, impossible hparams and missing
data all fail here, naming the trial.

A [search] makes its trials as it goes, so its space is checked instead (check_search):
every end of every range alone against the declarations (names, types, single values,
data), then that some point of the space passes the model's checks between hparams. Each
sampled trial is checked again in full before it starts (sweep/search.py).
"""
import dataclasses
import os
import random

from t2t_lite import experiment, gin_config, metrics
from t2t_lite.decoding import decoder
from t2t_lite.errors import UserError, suggestion
from t2t_lite.sweep import ranges, spec
from t2t_lite.training.trainer import TrainerOptions

# Points of a search space tried for one that passes the model's checks between hparams.
POINTS_TRIED = 20


@dataclasses.dataclass
class Checked:
  """What the runner needs to know of a valid trial."""
  train_steps: int
  problem: str
  eval_metrics: tuple
  local_eval_frequency: int = 0


def _message(error):
  return str(error).split("\n  In call to configurable")[0]


def check_trial(sweep, trial, extra_files=(), extra_params=(), between_hparams=True,
                where=None):
  """Checked for `trial`, or a UserError prefixed with `where` (default: the trial)."""
  gin_config.clear()
  try:
    gin_config.parse(list(extra_files) + sweep.gin_files,
                     sweep.bindings(trial, extra_params), params_are="binding")
    names = experiment.ExperimentOptions.from_config()
    missing = [k for k in ("problem", "model", "hparams_set") if not names.values()[k]]
    if missing:
      raise UserError("no " + ", ".join(f"experiment.{k}" for k in missing)
                      + " (bind it in [base])")
    settings = experiment.RunOptions.from_config()
    trainer_options = TrainerOptions.from_config()
    if settings.schedule != "train_and_evaluate":
      raise UserError(f"run.schedule = '{settings.schedule}': a sweep compares eval "
                      "metrics, so its trials train_and_evaluate")
    problem, model_cls, requested = experiment.resolve(names.problem, names.model,
                                                       names.hparams_set,
                                                       between_hparams=between_hparams)
    eval_split = trainer_options.eval_split
    problem.check_split(eval_split, "Trainer.eval_split")
    if not names.data_dir:
      raise UserError("no experiment.data_dir: generate the data once with t2t-datagen and "
                      "bind it in [base], so trials share it")
    data_dir = os.path.expanduser(names.data_dir)
    problem.data_files(data_dir, "train")
    problem.data_files(data_dir, eval_split)
    experiment.final_hparams(problem, model_cls, requested, data_dir,
                             between_hparams=between_hparams)
    decoded = tuple(problem.decode_metrics) if trainer_options.eval_decode_samples else ()
    return Checked(trainer_options.train_steps, problem.name,
                   tuple(problem.eval_metrics) + decoded,
                   trainer_options.local_eval_frequency)
  except UserError as e:
    raise UserError(f"{where or f'trial {trial.index} ({trial.label()})'}: "
                    f"{_message(e)}") from None
  finally:
    gin_config.clear()


def check_all(sweep, extra_files=(), extra_params=()):
  """{trial name: Checked} for every trial; the first invalid one raises UserError."""
  return {t.name: check_trial(sweep, t, extra_files, extra_params) for t in sweep.trials}


def _middle(r):
  """A range's middle on its scale (its first value for a list of choices)."""
  if r.choices is not None:
    return r.choices[0]
  if r.scale == ranges.LINEAR_SCALE:
    middle = (r.low + r.high) / 2
  else:
    middle = (r.low * r.high) ** 0.5
  return r.kind(round(middle)) if r.kind is int else float(f"{middle:.6g}")


def _points(search):
  """The middle of the space, then points drawn from it (seeded by the search's seed)."""
  rng = random.Random(search.seed)
  yield {k: _middle(r) for k, r in search.ranges.items()}
  for _ in range(POINTS_TRIED - 1):
    yield {k: r.sample(rng) for k, r in search.ranges.items()}


def check_search(sweep, extra_files=(), extra_params=()):
  """Checks a [search] before its first trial: every end of every range alone, the metric
  and its direction, the pruner against the trials' evaluations, and that the space holds
  a point the model accepts. Returns (Checked of that point, notes worth printing)."""
  search = sweep.search
  for key, r in search.ranges.items():
    for value in r.ends():
      probe = spec.Trial(0, {key: value}, "probe")
      check_trial(sweep, probe, extra_files, extra_params, between_hparams=False,
                  where=f"[search] {key} = {value!r} (an end of its range)")
  checked, first_error = None, None
  for n, point in enumerate(_points(search), 1):
    try:
      checked = check_trial(sweep, spec.Trial(n, point, "probe"), extra_files, extra_params)
      break
    except UserError as e:
      first_error = first_error or e
  if checked is None:
    raise UserError(f"[search]: none of {POINTS_TRIED} points of the space passes the model's "
                    f"checks, e.g. {first_error}; change the ranges")
  if search.metric not in checked.eval_metrics:
    hint = (" (decoded metrics need Trainer.eval_decode_samples > 0)"
            if search.metric in decoder.DECODED_METRICS else "")
    raise UserError(f"[search] metric = '{search.metric}' is not an eval metric of these "
                    f"trials{hint}{suggestion(search.metric, checked.eval_metrics)}")
  declared = "maximize" if metrics.higher_is_better(search.metric) else "minimize"
  if search.direction is not None and search.direction != declared:
    raise UserError(f"[search] direction = '{search.direction}', but {search.metric} is "
                    f"{'higher' if declared == 'maximize' else 'lower'}-is-better: the search "
                    f"would look for the worst trials; write direction = '{declared}' or leave "
                    "it out")
  if search.pruner != "none" and checked.local_eval_frequency >= checked.train_steps:
    raise UserError(f"[search] pruner = '{search.pruner}' stops trials at evaluations before "
                    f"their last step, but they evaluate only at the end (local_eval_frequency "
                    f"{checked.local_eval_frequency} >= train_steps {checked.train_steps}); "
                    "lower Trainer.local_eval_frequency or use pruner = 'none'")
  notes = []
  numeric = [k for k, r in search.ranges.items() if r.choices is None]
  if search.sampler == "cmaes":
    if len(numeric) < 2:
      notes.append("note: CMA-ES needs two or more numeric ranges; Optuna samples this space "
                   "at random instead")
    elif len(numeric) < len(search.ranges):
      notes.append("note: CMA-ES samples only numeric ranges; the lists of values are drawn "
                   "at random")
  return checked, notes
