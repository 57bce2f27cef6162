"""LAMB and LARS: layer-wise adaptive optimizers for large batches.

Both scale each weight matrix's step by a trust ratio ||w|| / ||update||, so every layer
moves by a similar fraction of its norm whatever its gradient scale:

- LARS (You, Gitman & Ginsburg, 2017, Algorithm 1): momentum SGD with local learning
  rate eta * ||w|| / (||g|| + weight_decay * ||w||) applied to g + weight_decay * w.
- LAMB (You et al., 2020, Algorithm 2): the Adam step r = m_hat / (sqrt(v_hat) + eps)
  plus weight_decay * w, scaled by ||w|| / ||r + weight_decay * w||.

Biases and layer-norm scales/offsets are excluded from weight decay and from the trust
ratio, as in the papers' reference implementations (BERT's LAMB, the MLPerf LARS). They
are recognized as the variables of rank <= 1, which holds for every layer here and needs
no naming convention. keras.optimizers.Lamb exists but has neither the weight decay
inside the trust ratio nor the exclusions; Keras has no LARS.
"""
import keras
from keras import ops


def layer_adapted(variable):
  """Matrices (and higher-rank kernels) get weight decay and a trust ratio."""
  return len(variable.shape) >= 2


def _trust_ratio(numerator_norm, denominator):
  """numerator_norm / denominator, or 1 where either is zero (a fresh zero-initialized
  weight, or no gradient)."""
  ok = ops.logical_and(ops.greater(numerator_norm, 0.0), ops.greater(denominator, 0.0))
  return ops.where(ok, numerator_norm / ops.where(ok, denominator, 1.0), 1.0)


class Lamb(keras.optimizers.Optimizer):

  def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
               weight_decay_rate=0.01, name="lamb", **kwargs):
    super().__init__(learning_rate=learning_rate, name=name, **kwargs)
    self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
    self.weight_decay_rate = weight_decay_rate  # (Keras' own weight_decay is decoupled)

  def build(self, var_list):
    if self.built:
      return
    super().build(var_list)
    self._momentums, self._velocities = self.add_optimizer_variables(
        var_list, ["momentum", "velocity"])

  def update_step(self, gradient, variable, learning_rate):
    dtype = variable.dtype
    lr = ops.cast(learning_rate, dtype)
    g = ops.cast(gradient, dtype)
    t = ops.cast(self.iterations + 1, dtype)
    index = self._get_variable_index(variable)
    m, v = self._momentums[index], self._velocities[index]
    self.assign_add(m, (g - m) * (1.0 - self.beta_1))
    self.assign_add(v, (ops.square(g) - v) * (1.0 - self.beta_2))
    m_hat = m / (1.0 - ops.power(ops.cast(self.beta_1, dtype), t))
    v_hat = v / (1.0 - ops.power(ops.cast(self.beta_2, dtype), t))
    update = m_hat / (ops.sqrt(v_hat) + self.epsilon)
    if layer_adapted(variable):
      update = update + self.weight_decay_rate * variable
      update = update * _trust_ratio(ops.norm(ops.reshape(variable, [-1])),
                                     ops.norm(ops.reshape(update, [-1])))
    self.assign_sub(variable, lr * update)

  def get_config(self):
    config = super().get_config()
    config.update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                  weight_decay_rate=self.weight_decay_rate)
    return config


class Lars(keras.optimizers.Optimizer):

  def __init__(self, learning_rate=1.0, momentum=0.9, eta=0.001, weight_decay_rate=1e-4,
               name="lars", **kwargs):
    super().__init__(learning_rate=learning_rate, name=name, **kwargs)
    self.momentum, self.eta = momentum, eta
    self.weight_decay_rate = weight_decay_rate

  def build(self, var_list):
    if self.built:
      return
    super().build(var_list)
    self._velocities = self.add_optimizer_variables(var_list, "velocity")

  def update_step(self, gradient, variable, learning_rate):
    dtype = variable.dtype
    lr = ops.cast(learning_rate, dtype)
    g = ops.cast(gradient, dtype)
    if layer_adapted(variable):
      w_norm = ops.norm(ops.reshape(variable, [-1]))
      g_norm = ops.norm(ops.reshape(g, [-1]))
      lr = lr * _trust_ratio(self.eta * w_norm, g_norm + self.weight_decay_rate * w_norm)
      g = g + self.weight_decay_rate * variable
    v = self._velocities[self._get_variable_index(variable)]
    self.assign(v, self.momentum * v + lr * g)
    self.assign_sub(variable, v)

  def get_config(self):
    config = super().get_config()
    config.update(momentum=self.momentum, eta=self.eta,
                  weight_decay_rate=self.weight_decay_rate)
    return config
