"""The work of the training loop besides running steps, as actions plugged into it (the
train actions of Orbit's Controller): rollback after non-finite losses, the logged loss
window, a stop on SIGTERM/SIGINT, and the checkpoint with its evaluation (whose listeners
keep the best checkpoints and stop early). The profiler (step_profiler.py) is one too.

The Controller (trainer.py) runs the compiled step in calls of several steps; around each
call it asks every action, in order, how far the call may go (`limit`), tells it a call
starts (`before_call`) and that one ended (`after_call`), which may go on, skip the
remaining actions for this call (NEXT_CALL), or end training (a LoopEnd).
"""
import dataclasses
import time

from t2t_lite.errors import UserError
from t2t_lite.training import preemption
from t2t_lite.training.train_step import mean_per_token

MAX_ROLLBACKS = 3
NEXT_CALL = "next call"  # after_call: leave the remaining actions out for this call
PEER_STOP = "a stop request from another task"


@dataclasses.dataclass
class LoopState:
  """Where the loop is: the global step after the last call, the step training stops
  at, and the (loss summed over tokens, token count) of the last call's steps."""
  step: int
  target: int
  loss_sum: float = 0.0
  tokens: float = 0.0

  def at(self, every):
    """Whether the loop is at a multiple of `every` steps, or at its target."""
    return self.step % every == 0 or self.step == self.target


@dataclasses.dataclass(frozen=True)
class LoopEnd:
  """Why training ends before its target: an evaluation's listener (reason) or a signal."""
  reason: str | None = None
  signal: str | None = None


class LoopAction:
  """A part of the training loop's work; every hook does nothing unless overridden."""

  def open(self, loop: LoopState):
    """Before the first call."""

  def limit(self, step: int, steps: int) -> int:
    """The steps the next call from `step` may run, at most `steps`."""
    return steps

  def before_call(self, step: int):
    """A call is about to run steps from `step`."""

  def after_call(self, loop: LoopState):
    """A call ended: None to go on, NEXT_CALL, or a LoopEnd."""
    return None

  def close(self):
    """After the last call (also when training fails)."""


def next_boundary(step, every):
  return (step // every + 1) * every


def _format_eta(seconds):
  seconds = int(seconds)
  if seconds >= 3600:
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
  return f"{seconds // 60}m{seconds % 60:02d}s"


class LossWindow(LoopAction):
  """Every `every` steps and at the target: logs the loss per token over every step since
  the last log (so it does not depend on how calls, sized by the clock, split those
  steps), the learning rate and the speed, and writes them as TensorBoard scalars."""

  def __init__(self, every, step_fn, schedule, optimizer, summaries, log):
    self.every, self.step_fn, self.schedule = every, step_fn, schedule
    self.optimizer, self.summaries, self.log = optimizer, summaries, log

  def open(self, loop):
    self.start_time, self.start_step = time.time(), loop.step
    self.reset(loop.step)

  def reset(self, step):
    """Starts the window and the clock afresh at `step` (after a rollback)."""
    self.last_time, self.last_step = time.time(), step
    self.loss_sum, self.tokens = 0.0, 0.0

  def restart_clock(self):
    """Time since the last call (an evaluation's) is not training time."""
    self.last_time = time.time()

  def limit(self, step, steps):
    return min(steps, next_boundary(step, self.every) - step)

  def after_call(self, loop):
    self.loss_sum, self.tokens = self.loss_sum + loop.loss_sum, self.tokens + loop.tokens
    if not loop.at(self.every):
      return None
    now = time.time()
    rate = (loop.step - self.last_step) / max(now - self.last_time, 1e-9)
    overall = (loop.step - self.start_step) / max(now - self.start_time, 1e-9)
    lr = float(self.schedule(self.optimizer.iterations - 1))
    loss = mean_per_token(self.loss_sum, self.tokens)
    self.loss_sum, self.tokens = 0.0, 0.0
    self.log(f"step {loop.step}/{loop.target}  loss {loss:.4f}  lr {lr:.3g}  {rate:.2f} "
             f"steps/s  ETA {_format_eta((loop.target - loop.step) / max(overall, 1e-9))}")
    scalars = {"loss": loss, "learning_rate": lr, "global_step/sec": rate}
    if self.step_fn.loss_scale is not None:  # float16: is the scale settling?
      scalars["loss_scale"] = float(self.step_fn.loss_scale.scale.numpy())
    self.summaries.write("train", loop.step, scalars)
    self.last_time, self.last_step = now, loop.step
    return None


class Rollback(LoopAction):
  """After max_nonfinite_steps non-finite losses in a row: back to the last checkpoint's
  weights (the input moves on, past the batches that failed); a UserError after
  MAX_ROLLBACKS rollbacks without an update applied since. Warns of skipped updates."""

  def __init__(self, step_fn, optimizer, global_step, candidates, weights, window,
               output_dir, log):
    """candidates() -> the checkpoints to roll back to, newest first; weights: the
    CheckpointKeeper restoring them; window: the LossWindow, started afresh after one."""
    self.step_fn, self.optimizer, self.global_step = step_fn, optimizer, global_step
    self.candidates, self.weights, self.window = candidates, weights, window
    self.output_dir, self.log = output_dir, log

  def open(self, loop):
    self.rollbacks, self.skipped = 0, int(self.step_fn.nonfinite_total.numpy())
    self.updates_at_rollback = None  # optimizer.iterations right after the last rollback

  def after_call(self, loop):
    total = int(self.step_fn.nonfinite_total.numpy())
    if total > self.skipped:
      self.log(f"WARNING: skipped {total - self.skipped} update(s) with a non-finite loss "
               f"before step {loop.step}")
      self.skipped = total
    if int(self.step_fn.nonfinite_run.numpy()) < self.step_fn.max_nonfinite_steps:
      return None
    self.rollbacks += 1
    loop.step = self._roll_back()
    self.updates_at_rollback = int(self.optimizer.iterations.numpy())
    self.window.reset(loop.step)
    return NEXT_CALL

  def checkpointed(self):
    """A checkpoint was saved: with an update applied since the last rollback, training
    recovered."""
    if self.updates_at_rollback is not None and \
        int(self.optimizer.iterations.numpy()) > self.updates_at_rollback:
      self.rollbacks, self.updates_at_rollback = 0, None

  def _roll_back(self):
    n = self.step_fn.max_nonfinite_steps
    step = int(self.global_step.numpy())
    candidates = self.candidates()
    if self.rollbacks > MAX_ROLLBACKS or not candidates:
      kept = (f"The checkpoints in {self.output_dir} are intact" if candidates
              else "No checkpoint was written yet")
      raise UserError(f"the loss was not finite for {n} steps in a row at step {step}"
                      + (f", also after {MAX_ROLLBACKS} rollbacks" if self.rollbacks > 1
                         else "")
                      + "; lower the learning rate (--hparams=learning_rate_constant=...) or "
                      f"check the data. {kept}")
    path = self.weights.restore(candidates[0], partial=True)
    self.step_fn.nonfinite_run.assign(0)
    restored = int(self.global_step.numpy())
    self.log(f"WARNING: {n} non-finite losses in a row at step {step}: rolled back to {path} "
             f"(step {restored}), continuing with the next batches")
    return restored


class StopOnSignal(LoopAction):
  """On SIGTERM or SIGINT: saves at the next step boundary and ends training. In a
  synchronous cluster a signal to any task stops every task after the same step."""

  def __init__(self, runner, save, log):
    self.runner, self.save, self.log = runner, save, log
    self.request = preemption.StopRequest()

  def open(self, loop):
    self.request.__enter__()

  def after_call(self, loop):
    if not self.runner.agreed_stop(bool(self.request)):
      return None
    path = self.save()
    signal = self.request.signal_name or PEER_STOP
    self.log(f"received {signal} at step {loop.step}: saved {path}; rerun the same command "
             "to resume")
    return LoopEnd(signal=signal)

  def close(self):
    self.request.__exit__(None, None, None)


class Checkpoint(LoopAction):
  """Every `every` steps and at the target: saves a checkpoint, then calls `evaluate`
  (train_and_evaluate: the evaluation and its listeners), which ends training by
  returning a reason."""

  def __init__(self, every, save, evaluate, rollback, window, log):
    self.every, self.save, self.evaluate = every, save, evaluate
    self.rollback, self.window, self.log = rollback, window, log

  def limit(self, step, steps):
    return min(steps, next_boundary(step, self.every) - step)

  def after_call(self, loop):
    if not loop.at(self.every):
      return None
    self.save()
    self.rollback.checkpointed()
    if self.evaluate is not None:
      reason = self.evaluate()
      if reason:
        self.log(f"stopping at step {loop.step}: {reason}")
        return LoopEnd(reason=reason)
    self.window.restart_clock()
    return None
