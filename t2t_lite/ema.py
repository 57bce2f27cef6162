"""An exponential moving average (EMA) of the weights, kept beside them in every checkpoint.

With hparam ema_decay = d > 0, after each applied update n (0, 1, ...) every trainable
weight w has an average a <- a - (1 - d_n) (a - w), starting from the initial weights, with
d_n = min(d, (1 + n) / (10 + n)): tf.train.ExponentialMovingAverage's rule with
num_updates, so a short run is not dominated by its random initialization. A skipped
update (non-finite loss) leaves the average as it is.

The averages are saved under `ema/` in every checkpoint. Evaluation swaps them into the
model (`swapped_in`); t2t-decoder and t2t-exporter load them in place of the raw weights
(`load_averages`) unless --raw_weights. They are matched to the model's weights by the
order of model.trainable_variables, which the same model class and hparams always build
the same way.
"""
import contextlib

import tensorflow as tf

from t2t_lite import options
from t2t_lite.errors import UserError
from t2t_lite.options import setting

CHECKPOINT_KEY = "ema"
# The first updates' decay is at most (1 + n) / (10 + n) (tf.train.ExponentialMovingAverage).
_WARMUP = 10.0


@options.group("Weights", bindable=False)  # bound as Trainer.*, TrainedRun.*
class WeightsOptions(options.Options):
  """Which weights of a run that keeps their moving average evaluation, decoding and
  export use (t2t-trainer, t2t-decoder and t2t-exporter share it)."""
  raw_weights: bool = setting(False, "With hparam ema_decay > 0: use the raw weights, not "
                              "their exponential moving average (which the checkpoint "
                              "keeps), to evaluate, decode or export.")


class ExponentialMovingAverage:
  """The moving averages of `variables`; create it in the strategy's scope, like them."""

  def __init__(self, variables, decay: float):
    self.variables = list(variables)
    self.decay = decay
    agg = tf.VariableAggregation.ONLY_FIRST_REPLICA  # every replica computes the same
    self.state = tf.Module(name="ema")  # what checkpoints hold (under CHECKPOINT_KEY)
    self.state.updates = tf.Variable(0, dtype=tf.int64, trainable=False, aggregation=agg,
                                     name="ema_updates")
    self.state.averages = [
        tf.Variable(lambda v=v: tf.convert_to_tensor(v), trainable=False, aggregation=agg,
                    name=f"ema_{i}")
        for i, v in enumerate(self.variables)]

  @property
  def averages(self):
    return list(self.state.averages)

  def current_decay(self):
    n = tf.cast(self.state.updates, tf.float32)
    return tf.minimum(tf.constant(self.decay, tf.float32), (1.0 + n) / (_WARMUP + n))

  def update(self, applied=True):
    """Moves every average towards its weight (after an optimizer update). `applied`: a
    boolean tensor, False when the update was skipped (the averages stay)."""
    rate = 1.0 - self.current_decay()
    for average, variable in zip(self.state.averages, self.variables):
      value = tf.cast(variable, average.dtype)
      new = average - tf.cast(rate, average.dtype) * (average - value)
      average.assign(tf.where(applied, new, average) if applied is not True else new)
    self.state.updates.assign_add(tf.cast(applied, tf.int64))

  @contextlib.contextmanager
  def swapped_in(self):
    """The model holds the averages inside the block and its own weights again after."""
    saved = [tf.identity(tf.convert_to_tensor(v)) for v in self.variables]
    for variable, average in zip(self.variables, self.state.averages):
      variable.assign(average.read_value())
    try:
      yield
    finally:
      for variable, value in zip(self.variables, saved):
        variable.assign(value)


def make(model, hparams):
  """The EMA of model's trainable weights when hparams.ema_decay > 0, else None."""
  decay = hparams.get("ema_decay", 0.0)
  return ExponentialMovingAverage(model.trainable_variables, decay) if decay > 0 else None


def _average_names(checkpoint_path):
  names = tf.train.load_checkpoint(checkpoint_path).get_variable_to_shape_map()
  return [n for n in names if n.startswith(f"{CHECKPOINT_KEY}/averages/")]


def has_averages(checkpoint_path: str) -> bool:
  """Whether a checkpoint holds weight averages (its run trained with ema_decay > 0)."""
  return bool(_average_names(checkpoint_path))


def load_averages(model, checkpoint_path: str) -> bool:
  """Puts the checkpoint's weight averages into `model` (restored from it already);
  returns False, changing nothing, when the checkpoint has none."""
  stored = len(_average_names(checkpoint_path))
  if not stored:
    return False
  averages = ExponentialMovingAverage(model.trainable_variables, 0.5)
  try:
    if stored != len(averages.averages):
      raise AssertionError(f"{stored} averages for {len(averages.averages)} weights")
    tf.train.Checkpoint(**{CHECKPOINT_KEY: averages.state}).restore(
        checkpoint_path).expect_partial().assert_existing_objects_matched()
  except (AssertionError, ValueError):
    raise UserError(f"the weight averages in {checkpoint_path} do not fit this model; "
                    "decode with the run's own hparams.json, or pass --raw_weights") from None
  for variable, average in zip(model.trainable_variables, averages.averages):
    variable.assign(average)
  return True
