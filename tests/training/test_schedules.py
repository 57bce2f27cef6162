"""--schedule as a table: what each schedule reads and runs."""
import pytest

from t2t_lite import experiment
from t2t_lite.errors import UserError
from t2t_lite.training.schedules import SCHEDULES


def test_the_flag_offers_the_table_in_its_order():
  assert experiment.SCHEDULES == ("train", "evaluate", "train_and_evaluate",
                                  "continuous_eval")
  assert tuple(SCHEDULES) == experiment.SCHEDULES


def test_what_each_schedule_reads():
  assert SCHEDULES["train"].splits("dev") == ["train"]
  assert SCHEDULES["train_and_evaluate"].splits("dev_long") == ["train", "dev_long"]
  assert SCHEDULES["evaluate"].splits("dev") == ["dev"]
  trains = {name for name, s in SCHEDULES.items() if s.trains}
  assert trains == {"train", "train_and_evaluate"}
  trained_run = {name for name, s in SCHEDULES.items() if s.evaluates_a_trained_run}
  assert trained_run == {"evaluate", "continuous_eval"}
  assert [n for n, s in SCHEDULES.items() if s.waits_for_the_run] == ["continuous_eval"]
  assert [n for n, s in SCHEDULES.items() if s.tells_listeners] == ["train_and_evaluate"]


class FakeController:
  output_dir = "/runs/r"

  def __init__(self, restored_step):
    self.restored_step, self.calls = restored_step, []

  def restore(self, with_input=True):
    self.calls.append(("restore", with_input))
    return self.restored_step

  def train(self):
    self.calls.append(("train",))

  def evaluate(self):
    self.calls.append(("evaluate",))
    return {"accuracy": 1.0}


def test_train_resumes_then_trains_and_evaluate_needs_a_checkpoint():
  controller = FakeController(restored_step=0)
  SCHEDULES["train"].run(controller, 0)
  assert controller.calls == [("restore", True), ("train",)]
  with pytest.raises(UserError, match="no checkpoint in /runs/r to evaluate; train first"):
    SCHEDULES["evaluate"].run(controller, 0)
  assert SCHEDULES["evaluate"].run(FakeController(restored_step=5), 0) == {"accuracy": 1.0}
