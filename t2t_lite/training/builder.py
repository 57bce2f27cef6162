"""Builds what a run trains from its configuration: the model, the learning-rate schedule,
the optimizer, the exponential moving average of the weights, the training step and what a
checkpoint holds. The Controller (trainer.py) runs them; it makes none of them.
"""
import dataclasses

import keras
import tensorflow as tf

from t2t_lite import ema, mixed_precision
from t2t_lite.layers import strategy_allows
from t2t_lite.training import effective_batch, learning_rate, optimizers
from t2t_lite.training.checkpoints import CheckpointKeeper
from t2t_lite.training.train_step import TrainStep


def build_model(model_cls, hparams):
  """The model, in the compute dtype of its hparams."""
  with mixed_precision.policy_scope(hparams):
    return model_cls(hparams)


@dataclasses.dataclass
class TrainingState:
  """The objects of one run, made in its strategy's scope."""
  model: keras.Model
  schedule: learning_rate.FactorSchedule
  optimizer: keras.optimizers.Optimizer
  global_step: tf.Variable
  ema: ema.ExponentialMovingAverage | None
  # The step of the last evaluation the evaluation listeners were told of.
  evaluated_step: tf.Variable
  step_fn: TrainStep
  # Weights only (no input position): evaluation, and rollbacks after non-finite losses.
  weights: CheckpointKeeper

  def checkpointed(self):
    """What every checkpoint holds besides the training input's position and the
    listeners' state."""
    return checkpointed(self.model, self.optimizer, self.global_step, self.step_fn)


def checkpointed(model, optimizer, global_step, step_fn):
  return dict(model=model, optimizer=optimizer, global_step=global_step,
              **step_fn.checkpoint_state())


def _step_variable(name, value):
  return tf.Variable(value, dtype=tf.int64, trainable=False, name=name,
                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


def build(problem, model_cls, hparams, options, runner, output_dir, log) -> TrainingState:
  """The run's objects under `runner`'s strategy; options: TrainerOptions."""
  # The hparams of the step: gradient accumulation may follow from --effective_batch_size
  # (a run's hparams.json keeps what was given, so it resumes on other device counts).
  strategy = runner.strategy
  step_hparams = effective_batch.apply(hparams, options.effective_batch_size,
                                       strategy.num_replicas_in_sync, log)
  runner.check_hparams(step_hparams)
  # The layers read what the runner's strategy allows (strategy_allows.current()).
  with strategy.scope(), strategy_allows.using(runner.allows):
    model = build_model(model_cls, hparams)
    model.build_from_features(model.dummy_features(problem.has_inputs))
    schedule = learning_rate.FactorSchedule(hparams, options.train_steps)
    optimizer = optimizers.make_optimizer(hparams, schedule)
    optimizer.build(model.trainable_variables)
    global_step = _step_variable("global_step", 0)
    averages = ema.make(model, hparams)
    evaluated_step = _step_variable("evaluated_step", -1)
  step_fn = TrainStep(strategy, model, optimizer, step_hparams, global_step,
                      options.max_nonfinite_steps, options.jit_compile,
                      update_gate=schedule.gate, ema=averages, allows=runner.allows)
  weights = CheckpointKeeper(tf.train.Checkpoint(**checkpointed(
      model, optimizer, global_step, step_fn)), output_dir, options.keep_checkpoint_max, log)
  return TrainingState(model, schedule, optimizer, global_step, averages, evaluated_step,
                       step_fn, weights)
