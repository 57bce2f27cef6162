"""--schedule: what t2t-trainer runs, as a table. Each Schedule says what it does with the
Controller (trainer.py) and what the binary must prepare before it starts."""
import dataclasses
import time
from typing import Callable

import tensorflow as tf

from t2t_lite.errors import UserError


@dataclasses.dataclass(frozen=True)
class Schedule:
  # run(controller, eval_timeout_secs) -> the last evaluation's results, if any
  run: Callable
  # Trains: locks output_dir for its one writer, records the run, reads the train split.
  trains: bool
  # Reads the eval split.
  evaluates: bool
  # Evaluates a run trained by another process, with that run's own hparams; how long to
  # wait for them to appear (the eval timeout), or not at all.
  evaluates_a_trained_run: bool = False
  waits_for_the_run: bool = False
  # Tells evaluation listeners (best checkpoints, early stopping, a study's pruner).
  tells_listeners: bool = False

  def splits(self, eval_split):
    """The splits whose data it reads."""
    return (["train"] if self.trains else []) + ([eval_split] if self.evaluates else [])


def _train(controller, eval_timeout_secs):
  controller.restore()
  controller.train()


def _evaluate(controller, eval_timeout_secs):
  if not controller.restore(with_input=False):
    raise UserError(f"no checkpoint in {controller.output_dir} to evaluate; train first")
  return controller.evaluate()


def _train_and_evaluate(controller, eval_timeout_secs):
  return controller.train_and_evaluate()


def continuous_eval(controller, timeout_secs, poll_secs=10):
  """Evaluates each new checkpoint of the controller's output_dir until one reaches
  train_steps (or no new one appears for timeout_secs)."""
  last, waited, results = None, 0.0, None
  while True:
    # Another process writes the checkpoints: read the directory, not a manager.
    path = tf.train.latest_checkpoint(controller.output_dir)
    if path and path != last:
      try:
        step = controller.restore(path, with_input=False)
      except UserError as e:  # deleted by the trainer's keep_checkpoint_max meanwhile
        controller.log(f"WARNING: skipping {path}: {e}")
        last = path
        continue
      results, last, waited = controller.evaluate(), path, 0.0
      if step >= controller.options.train_steps:
        return results
    elif waited >= timeout_secs:
      controller.log(f"no new checkpoint in {timeout_secs}s; stopping continuous_eval")
      return results
    time.sleep(poll_secs)
    waited += poll_secs


def _continuous_eval(controller, eval_timeout_secs):
  return continuous_eval(controller, eval_timeout_secs)


# In the order --schedule's help lists them.
SCHEDULES = {
    "train": Schedule(_train, trains=True, evaluates=False),
    "evaluate": Schedule(_evaluate, trains=False, evaluates=True,
                         evaluates_a_trained_run=True),
    "train_and_evaluate": Schedule(_train_and_evaluate, trains=True, evaluates=True,
                                   tells_listeners=True),
    "continuous_eval": Schedule(_continuous_eval, trains=False, evaluates=True,
                                evaluates_a_trained_run=True, waits_for_the_run=True),
}
