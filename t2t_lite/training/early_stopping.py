"""Early stopping: end training after `patience` evaluations in a row without improvement.

An EvaluationListener. An evaluation improves when its --best_metric beats the best so far
by more than min_delta (in the metric's direction). The best value, its step and the count
of evaluations since are tf.Variables in every checkpoint, so a run killed and resumed
stops at the step an uninterrupted run stops at (the trainer evaluates a restored
checkpoint again when its evaluation did not reach the checkpoint's state).
"""
import tensorflow as tf

from t2t_lite.training.trainer_options import EvaluationListener
from t2t_lite.training.watched_metric import WatchedMetric


class EarlyStopping(EvaluationListener):

  def __init__(self, metric: WatchedMetric, patience: int, log=print):
    self.metric, self.patience, self.log = metric, patience, log
    self.state = tf.Module(name="early_stopping")
    self.state.best = tf.Variable(float("nan"), dtype=tf.float64, trainable=False,
                                  name="best")
    self.state.best_step = tf.Variable(-1, dtype=tf.int64, trainable=False, name="best_step")
    self.state.evaluations_without_improvement = tf.Variable(
        0, dtype=tf.int64, trainable=False, name="evaluations_without_improvement")

  @property
  def best(self) -> float:
    return float(self.state.best.numpy())

  @property
  def best_step(self) -> int:
    return int(self.state.best_step.numpy())

  @property
  def waited(self) -> int:
    return int(self.state.evaluations_without_improvement.numpy())

  def after_evaluation(self, trainer, step, results):
    value = self.metric.value(results)
    if self.best_step < 0 or self.metric.improves(value, self.best):
      self.state.best.assign(value)
      self.state.best_step.assign(step)
      self.state.evaluations_without_improvement.assign(0)
      return None
    self.state.evaluations_without_improvement.assign_add(1)
    # (The best checkpoints rank by value alone; this is the last improvement by more
    # than min_delta, which the patience counts from.)
    delta = f" by more than {self.metric.min_delta:g}" if self.metric.min_delta else ""
    since = f"on {self.best:.4f} (step {self.best_step})"
    if self.waited < self.patience:
      self.log(f"no improvement of {self.metric.name}{delta} {since} for {self.waited} "
               f"evaluation(s); patience {self.patience}")
      return None
    return (f"early stopping: {self.metric.name} did not improve{delta} {since} in "
            f"{self.patience} evaluation(s)")

  def checkpoint_state(self):
    return {"early_stopping": self.state}
