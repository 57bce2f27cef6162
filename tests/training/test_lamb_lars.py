"""LAMB and LARS against steps computed by hand (numpy, the papers' formulas)."""
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.training import lamb_lars, optimizers

W = np.array([[0.5, -1.0, 0.25], [2.0, 0.1, -0.3]], np.float32)
B = np.array([0.2, -0.4, 0.0], np.float32)
GRADS = [  # (kernel gradient, bias gradient) of two steps
    (np.array([[0.1, 0.3, -0.2], [0.05, -0.4, 0.6]], np.float32),
     np.array([0.5, -0.1, 0.2], np.float32)),
    (np.array([[-0.2, 0.1, 0.1], [0.3, 0.2, -0.1]], np.float32),
     np.array([0.1, 0.3, -0.2], np.float32)),
]


def _run(optimizer):
  kernel, bias = tf.Variable(W), tf.Variable(B)
  optimizer.build([kernel, bias])
  for gk, gb in GRADS:
    optimizer.apply_gradients([(tf.constant(gk), kernel), (tf.constant(gb), bias)])
  return kernel.numpy(), bias.numpy()


def _norm(x):
  return float(np.sqrt(np.sum(np.square(x, dtype=np.float64))))


def test_lamb_matches_hand_computed_steps():
  lr, b1, b2, eps, wd = 0.1, 0.9, 0.999, 1e-6, 0.01
  kernel, bias = _run(lamb_lars.Lamb(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps,
                                     weight_decay_rate=wd))
  w, b = W.astype(np.float64), B.astype(np.float64)
  state = {"w": [0.0, 0.0], "b": [0.0, 0.0]}
  for t, (gk, gb) in enumerate(GRADS, start=1):
    for name, g in (("w", gk), ("b", gb)):
      m, v = state[name]
      m = b1 * m + (1 - b1) * g
      v = b2 * v + (1 - b2) * g * g
      state[name] = [m, v]
      r = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
      if name == "w":  # weight decay and trust ratio for the matrix only
        u = r + wd * w
        w = w - lr * (_norm(w) / _norm(u)) * u
      else:
        b = b - lr * r
  np.testing.assert_allclose(kernel, w, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(bias, b, rtol=1e-5, atol=1e-5)  # float32 cancellation near 0
  # The trust ratio matters here: plain Adam would move the kernel elsewhere.
  assert not np.allclose(kernel, W - 2 * lr * np.sign(GRADS[0][0]), atol=1e-3)


def test_lars_matches_hand_computed_steps():
  lr, momentum, eta, wd = 2.0, 0.9, 0.01, 1e-3
  kernel, bias = _run(lamb_lars.Lars(learning_rate=lr, momentum=momentum, eta=eta,
                                     weight_decay_rate=wd))
  w, b = W.astype(np.float64), B.astype(np.float64)
  vw, vb = 0.0, 0.0
  for gk, gb in GRADS:
    trust = eta * _norm(w) / (_norm(gk) + wd * _norm(w))
    vw = momentum * vw + lr * trust * (gk + wd * w)
    w = w - vw
    vb = momentum * vb + lr * gb  # biases: plain momentum SGD
    b = b - vb
  np.testing.assert_allclose(kernel, w, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(bias, b, rtol=1e-5, atol=1e-5)  # float32 cancellation near 0


@pytest.mark.parametrize("cls", [lamb_lars.Lamb, lamb_lars.Lars])
def test_zero_weights_take_an_unscaled_step(cls):
  """A zero-initialized matrix has no norm to trust: the ratio is 1, not 0 or NaN."""
  kernel = tf.Variable(np.zeros((2, 2), np.float32))
  opt = cls(learning_rate=0.5, weight_decay_rate=0.0)
  opt.build([kernel])
  opt.apply_gradients([(tf.constant([[1.0, -1.0], [0.5, 0.0]]), kernel)])
  value = kernel.numpy()
  assert np.all(np.isfinite(value)) and np.any(value != 0.0)


@pytest.mark.parametrize("name,cls,values,expected", [
    ("lamb", lamb_lars.Lamb,
     dict(optimizer_lamb_beta1=0.8, optimizer_lamb_beta2=0.99, optimizer_lamb_epsilon=1e-7,
          optimizer_lamb_weight_decay=0.05),
     dict(beta_1=0.8, beta_2=0.99, epsilon=1e-7, weight_decay_rate=0.05)),
    ("lars", lamb_lars.Lars,
     dict(optimizer_lars_momentum=0.8, optimizer_lars_eta=0.002,
          optimizer_lars_weight_decay=1e-5),
     dict(momentum=0.8, eta=0.002, weight_decay_rate=1e-5)),
])
def test_registered_and_built_from_hparams(name, cls, values, expected):
  hp = registry.hparams("transformer_tiny").override_from_dict(dict(values, optimizer=name))
  opt = optimizers.make_optimizer(hp, 0.1)
  assert isinstance(opt, cls)
  config = opt.get_config()
  assert {k: config[k] for k in expected} == pytest.approx(expected)
