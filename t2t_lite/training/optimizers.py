"""Registered optimizers, built from hparams (Tensor2Tensor's names)."""
import keras

from t2t_lite import registry
from t2t_lite.training import lamb_lars


# Gradient clipping (clip_grad_norm) happens in the trainer, over all replicas' gradients.
@registry.register_optimizer("adam")
def adam(learning_rate, hp):
  return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=hp.optimizer_adam_beta1,
                               beta_2=hp.optimizer_adam_beta2,
                               epsilon=hp.optimizer_adam_epsilon)


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
