"""Learning-rate schedules as products of registered factors (Tensor2Tensor's syntax).

`learning_rate_schedule="constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size"` multiplies
the named factors. The step is the number of the update being made (1 for the first).
"""
import keras
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.errors import UserError

reg = registry.register_learning_rate_schedule


@reg("constant")
def _constant(step, hp, train_steps):
  return tf.constant(hp.learning_rate_constant, tf.float32)


@reg("linear_warmup")
def _linear_warmup(step, hp, train_steps):
  return tf.minimum(1.0, step / max(hp.learning_rate_warmup_steps, 1))


@reg("rsqrt_decay")
def _rsqrt_decay(step, hp, train_steps):
  return tf.math.rsqrt(tf.maximum(step, float(max(hp.learning_rate_warmup_steps, 1))))


@reg("rsqrt_normalized_decay")
def _rsqrt_normalized_decay(step, hp, train_steps):
  warmup = float(max(hp.learning_rate_warmup_steps, 1))
  return tf.math.rsqrt(tf.maximum(step, warmup)) * warmup ** 0.5


@reg("rsqrt_hidden_size")
def _rsqrt_hidden_size(step, hp, train_steps):
  return tf.constant(hp.hidden_size ** -0.5, tf.float32)


@reg("linear_decay")
def _linear_decay(step, hp, train_steps):
  """Decays linearly to 0 over the last learning_rate_decay_steps of training."""
  remaining = float(train_steps) - step
  return tf.clip_by_value(remaining / max(hp.learning_rate_decay_steps, 1), 0.0, 1.0)


@reg("cosine_decay")
def _cosine_decay(step, hp, train_steps):
  """Half a cosine from 1 to 0 between the end of warmup and train_steps."""
  warmup = float(hp.learning_rate_warmup_steps)
  progress = tf.clip_by_value((step - warmup) / max(float(train_steps) - warmup, 1.0), 0.0, 1.0)
  return 0.5 * (1.0 + tf.cos(3.141592653589793 * progress))


def parse_schedule(text):
  """'a*b*c' -> list of factor functions; unknown names are user errors."""
  names = [n.strip() for n in text.split("*") if n.strip()]
  if not names:
    raise UserError("hparam learning_rate_schedule is empty; e.g. "
                    "'constant*linear_warmup*rsqrt_decay'")
  return [(n, registry.learning_rate_schedules.get(n)) for n in names]


class FactorSchedule(keras.optimizers.schedules.LearningRateSchedule):
  """The product of the schedule's factors at a step (keras passes iterations, from 0),
  times `gate`: a variable TrainStep sets to 0.0 to hold the weights during a skipped
  multi-replica step (an update cannot sit in a tf.cond there). Made inside the
  strategy's scope, like the optimizer."""

  def __init__(self, hparams, train_steps):
    self.hparams = hparams
    self.train_steps = train_steps
    self.factors = parse_schedule(hparams.learning_rate_schedule)
    self.gate = tf.Variable(1.0, trainable=False, name="learning_rate_gate",
                            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

  def __call__(self, iterations):
    step = tf.cast(iterations, tf.float32) + 1.0
    rate = tf.constant(1.0, tf.float32)
    for _, factor in self.factors:
      rate *= tf.cast(factor(step, self.hparams, self.train_steps), tf.float32)
    return rate * tf.convert_to_tensor(self.gate)

  def get_config(self):
    return {"learning_rate_schedule": self.hparams.learning_rate_schedule,
            "train_steps": self.train_steps}
