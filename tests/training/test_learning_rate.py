import pytest

from t2t_lite import registry
from t2t_lite.errors import UserError
from t2t_lite.training.learning_rate import FactorSchedule


def _rate(hp, step, train_steps=100000):
  return float(FactorSchedule(hp, train_steps)(step - 1))


def test_transformer_base_peaks_near_9_9e_4_at_step_8000():
  hp = registry.hparams("transformer_base")
  peak = _rate(hp, 8000)
  assert peak == pytest.approx(2.0 / 8000 ** 0.5 / 512 ** 0.5, rel=1e-5)
  assert peak == pytest.approx(9.9e-4, rel=0.01)
  assert _rate(hp, 4000) == pytest.approx(peak / 2, rel=1e-4)
  assert _rate(hp, 32000) == pytest.approx(peak / 2, rel=1e-4)


def test_linear_decay_reaches_zero_at_train_steps():
  hp = registry.hparams("transformer_tiny")
  hp.parse("learning_rate_schedule=constant*linear_decay,learning_rate_decay_steps=100")
  assert _rate(hp, 1000, train_steps=1000) == 0.0
  assert _rate(hp, 950, train_steps=1000) == pytest.approx(hp.learning_rate_constant * 0.5)


def test_unknown_factor_is_a_user_error():
  hp = registry.hparams("transformer_tiny")
  hp.learning_rate_schedule = "constant*rsqrt_decy"
  with pytest.raises(UserError, match="rsqrt_decay"):
    FactorSchedule(hp, 10)
