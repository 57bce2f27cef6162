"""t2t-trainer's options check what they combine when they are made."""
import pytest

from t2t_lite.errors import UserError
from t2t_lite.training.trainer_options import EvaluationListener, TrainerOptions


def test_options_refuse_what_cannot_work_together():
  with pytest.raises(UserError, match="--early_stopping_patience watches --best_metric"):
    TrainerOptions(early_stopping_patience=3)
  with pytest.raises(UserError, match="beam_size=0 must be >= 1"):
    TrainerOptions(eval_decode_hparams="beam_size=0")
  options = TrainerOptions(early_stopping_patience=3, best_metric="bleu",
                           eval_decode_hparams="beam_size=2")
  assert (options.early_stopping_patience, options.best_metric) == (3, "bleu")


def test_a_listener_goes_on_and_saves_nothing_by_default():
  listener = EvaluationListener()
  assert listener.after_evaluation(None, 10, {"accuracy": 0.5}) is None
  assert listener.checkpoint_state() == {}
