"""--profile_steps: the trace holds exactly the requested steps (the loop's calls stop and
start at the range's boundaries) and lands where TensorBoard's profile plugin looks."""
import glob

import pytest
import tensorflow as tf

from t2t_lite.errors import UserError
from t2t_lite.training import step_profiler
from t2t_lite.training.trainer import TrainerOptions
from tests.training.test_trainer import _trainer, data_dir  # noqa: F401 - a fixture


@pytest.mark.parametrize("text", ["5", "a:b", "0:3", "6:5", "1:2:3"])
def test_bad_ranges_are_one_line_errors(text):
  with pytest.raises(UserError, match="--profile_steps"):
    TrainerOptions(profile_steps=text)


def test_calls_are_cut_at_the_range_boundaries():
  p = step_profiler.StepProfiler((4, 6), "/unused", print)
  assert p.limit(0, 10) == 3     # up to step 3: the trace starts before step 4
  assert p.limit(3, 10) == 3     # steps 4..6 in one call
  assert p.limit(4, 10) == 2     # resumed inside the range
  p.done = True
  assert p.limit(6, 10) == 10    # after the range: no cut


def test_the_trainer_traces_exactly_the_requested_steps(data_dir, tmp_path, monkeypatch):  # noqa: F811
  out = str(tmp_path / "run")
  trainer, logs = _trainer(data_dir, out, steps=9, profile_steps="4:6")
  calls, events = [], []
  run_steps = trainer.runner.run_steps

  def recording_run_steps(step_fn, iterator, num_steps):
    calls.append((int(trainer.global_step.numpy()), int(num_steps)))
    return run_steps(step_fn, iterator, num_steps)
  monkeypatch.setattr(trainer.runner, "run_steps", recording_run_steps)
  start, stop = tf.profiler.experimental.start, tf.profiler.experimental.stop
  monkeypatch.setattr(tf.profiler.experimental, "start", lambda logdir: (
      events.append(("start", int(trainer.global_step.numpy()))), start(logdir)))
  monkeypatch.setattr(tf.profiler.experimental, "stop", lambda: (
      events.append(("stop", int(trainer.global_step.numpy()))), stop()))
  trainer.restore()
  trainer.train()
  assert events == [("start", 3), ("stop", 6)]
  traced = [(step, n) for step, n in calls if 3 <= step < 6]
  assert traced[0][0] == 3 and sum(n for _, n in traced) == 3  # steps 4..6, no more
  assert sum(n for _, n in calls) == 9
  assert glob.glob(f"{out}/plugins/profile/*/*.xplane.pb")
  assert any("wrote the profiler trace of steps 4..6" in line for line in logs)


def test_a_run_past_the_range_traces_nothing(tmp_path):
  logs = []
  p = step_profiler.StepProfiler((1, 2), str(tmp_path), logs.append)
  p.before_call(3)
  assert p.done and not p.running and "already at step 3; nothing traced" in logs[0]
  assert p.limit(3, 10) == 10
