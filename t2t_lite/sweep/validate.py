"""Checks every trial of a sweep in this process before any trial starts.

Each trial's gin configuration is parsed and resolved exactly as t2t-trainer will: unknown
configurables, parameters, registry names and hparam keys, impossible hparams and missing
data all fail here, naming the trial.
"""
import dataclasses
import os

from t2t_lite import experiment, gin_config
from t2t_lite.errors import UserError
from t2t_lite.training.trainer import TrainerOptions


@dataclasses.dataclass
class Checked:
  """What the runner needs to know of a valid trial."""
  train_steps: int
  problem: str
  eval_metrics: tuple


def check_trial(sweep, trial, extra_files=(), extra_params=()):
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
    problem, model_cls, hparams = experiment.resolve(names.problem, names.model,
                                                     names.hparams_set)
    eval_split = trainer_options.eval_split
    problem.check_split(eval_split, "Trainer.eval_split")
    if not names.data_dir:
      raise UserError("no experiment.data_dir: generate the data once with t2t-datagen and "
                      "bind it in [base], so trials share it")
    data_dir = os.path.expanduser(names.data_dir)
    problem.data_files(data_dir, "train")
    problem.data_files(data_dir, eval_split)
    problem.update_hparams(hparams, data_dir)
    experiment.validate(problem, model_cls, hparams)
    return Checked(trainer_options.train_steps, problem.name,
                   tuple(problem.eval_metrics))
  except UserError as e:
    message = str(e).split("\n  In call to configurable")[0]
    raise UserError(f"trial {trial.index} ({trial.label()}): {message}") from None
  finally:
    gin_config.clear()


def check_all(sweep, extra_files=(), extra_params=()):
  """{trial name: Checked} for every trial; the first invalid one raises UserError."""
  return {t.name: check_trial(sweep, t, extra_files, extra_params) for t in sweep.trials}
