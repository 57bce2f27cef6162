"""--profile_steps=START:END: a TensorBoard profiler trace of training steps START..END.

Step s is the one that takes global_step from s - 1 to s, so `--profile_steps=101:110`
traces ten steps. The trace is tf.profiler.experimental's (host ops, tf.data, the Python
between calls; device ops on a GPU), written to OUTPUT_DIR/plugins/profile/<run>/, where
TensorBoard's profile plugin finds it (`tensorboard --logdir OUTPUT_DIR`).

The trainer runs several steps per tf.function call. For the trace to hold exactly these
steps, the calls around the range are cut at its boundaries (`limit`): one call ends at
step START - 1, the profiler starts, calls run to END, and it stops.
"""
import tensorflow as tf

from t2t_lite.errors import UserError
from t2t_lite.training.actions import LoopAction, LoopState


def parse_steps(text: str, where: str = "--profile_steps") -> tuple[int, int] | None:
  """'START:END' -> (START, END), 1 <= START <= END; '' -> None."""
  if not text:
    return None
  try:
    start, end = (int(x) for x in text.split(":"))
  except ValueError:
    raise UserError(f"{where}={text!r} must be START:END (global steps, e.g. 100:110)"
                    ) from None
  if not 1 <= start <= end:
    raise UserError(f"{where}={text!r} must have 1 <= START <= END")
  return start, end


class StepProfiler(LoopAction):
  """Starts and stops tf.profiler around the steps of one range; inert without one (an
  action of the training loop)."""

  def __init__(self, steps: tuple[int, int] | None, logdir: str, log):
    self.steps, self.logdir, self.log = steps, logdir, log
    self.running = False
    self.done = steps is None

  def limit(self, step: int, chunk: int) -> int:
    """`chunk` steps from `step`, cut at the range's boundaries."""
    if self.done:
      return chunk
    start, end = self.steps
    boundary = start - 1 if step < start - 1 else end
    return max(1, min(chunk, boundary - step))

  def before_call(self, step: int) -> None:
    """Starts the trace when the next call runs steps of the range."""
    if self.done or self.running:
      return
    start, end = self.steps
    if step >= end:
      self.log(f"--profile_steps={start}:{end}: the run is already at step {step}; "
               "nothing traced")
      self.done = True
      return
    if step >= start - 1:
      if step > start - 1:
        self.log(f"--profile_steps={start}:{end}: resumed at step {step}, tracing steps "
                 f"{step + 1}..{end}")
      tf.profiler.experimental.start(self.logdir)
      self.running = True

  def after_call(self, loop: LoopState) -> None:
    if self.running and loop.step >= self.steps[1]:
      self.stop()

  def close(self) -> None:
    self.stop()

  def stop(self) -> None:
    """Ends and writes the trace (also when training ends early)."""
    if not self.running:
      return
    tf.profiler.experimental.stop()
    self.running, self.done = False, True
    self.log(f"wrote the profiler trace of steps {self.steps[0]}..{self.steps[1]} to "
             f"{self.logdir}/plugins/profile (tensorboard --logdir {self.logdir}, Profile "
             "tab)")
