"""Registered optimizers, built from hparams (Tensor2Tensor's names)."""
import keras
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.training import lamb_lars


class FusedAdam(keras.optimizers.Adam):
  """Keras's Adam, each variable updated by TensorFlow's one fused kernel (ResourceApplyAdam:
  CPU, GPU and, through XLA, TPU) instead of about ten elementwise ops, each a pass over
  the variable, its moments or its gradient: 2.8x faster for 43M weights on a 2-core CPU,
  a few percent of a large model's step. The same update (the kernel computes
  Keras's formula: m += (g - m)(1 - beta_1), v += (g^2 - v)(1 - beta_2), w -= lr_t m /
  (sqrt(v) + epsilon), lr_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)) and the same slot
  variables, so checkpoints are Keras Adam's."""

  def update_step(self, gradient, variable, learning_rate):
    if self.amsgrad:
      return super().update_step(gradient, variable, learning_rate)
    dtype = variable.dtype
    step = tf.cast(self.iterations + 1, dtype)
    index = self._get_variable_index(variable)
    # (Under a strategy's update() these handles are the current device's copies.)
    tf.raw_ops.ResourceApplyAdam(
        var=variable.handle, m=self._momentums[index].handle,
        v=self._velocities[index].handle,
        beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
        beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
        lr=tf.cast(learning_rate, dtype), beta1=tf.cast(self.beta_1, dtype),
        beta2=tf.cast(self.beta_2, dtype), epsilon=tf.cast(self.epsilon, dtype),
        grad=tf.cast(gradient, dtype), use_locking=False)


# Gradient clipping (clip_grad_norm) happens in the trainer, over all replicas' gradients.
@registry.register_optimizer("adam")
def adam(learning_rate, hp):
  return FusedAdam(learning_rate=learning_rate, beta_1=hp.optimizer_adam_beta1,
                   beta_2=hp.optimizer_adam_beta2, epsilon=hp.optimizer_adam_epsilon)


@registry.register_optimizer("adafactor")
def adafactor(learning_rate, hp):
  """Adafactor (Shazeer & Stern, 2018): factored second moments; decay 1 - step^-0.8."""
  return keras.optimizers.Adafactor(
      learning_rate=learning_rate, beta_2_decay=-hp.optimizer_adafactor_decay_rate,
      clip_threshold=hp.optimizer_adafactor_clipping_threshold)


@registry.register_optimizer("lamb")
def lamb(learning_rate, hp):
  """LAMB (You et al., 2020): Adam with a layer-wise trust ratio, for large batches."""
  return lamb_lars.Lamb(learning_rate=learning_rate, beta_1=hp.optimizer_lamb_beta1,
                        beta_2=hp.optimizer_lamb_beta2, epsilon=hp.optimizer_lamb_epsilon,
                        weight_decay_rate=hp.optimizer_lamb_weight_decay)


@registry.register_optimizer("lars")
def lars(learning_rate, hp):
  """LARS (You et al., 2017): momentum SGD with a layer-wise trust ratio eta*|w|/|g|."""
  return lamb_lars.Lars(learning_rate=learning_rate, momentum=hp.optimizer_lars_momentum,
                        eta=hp.optimizer_lars_eta,
                        weight_decay_rate=hp.optimizer_lars_weight_decay)


def make_optimizer(hp, learning_rate):
  return registry.optimizers.get(hp.optimizer)(learning_rate, hp)
