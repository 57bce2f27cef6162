"""The controller of a run (Orbit's Controller): it only controls, under any strategy.

A Controller runs one output_dir: the loop of calls of the compiled step, and the
schedules made of it (schedules.py). It makes nothing it runs: builder.py makes the model,
optimizer, learning-rate schedule, EMA and checkpoint contents; the Runner (runners.py)
runs TrainStep (train_step.py) under the strategy; the Evaluator (evaluator.py) computes
evaluations; rollback, the loss window, the stop on SIGTERM/SIGINT, profiling and the
checkpoint with its evaluation are actions plugged into the loop (actions.py); best
checkpoints, early stopping and a study's pruner listen to evaluations.

Checkpoints hold the model, the optimizer, the global step and the position of the
training input, so a resumed run reads the batches an uninterrupted run would have read.
"""
import contextlib
import time

import tensorflow as tf

from t2t_lite.data import input_pipeline
from t2t_lite.training import (
  actions,
  builder,
  evaluator,
  run_input,
  runners,
  schedules,
  step_profiler,
)
from t2t_lite.training.builder import build_model  # noqa: F401 (imported from here)
from t2t_lite.training.summaries import Summaries
from t2t_lite.training.trainer_options import (
  EvaluationListener,  # noqa: F401 (as above)
  TrainerOptions,
)

# A tf.function call runs this long at most, so a stop request waits about this long.
SECONDS_PER_CALL = 2.0


def log_line(message):
  print(message, flush=True)  # progress must show at once, also when piped to a file


class Controller:

  def __init__(self, problem, model_cls, hparams, output_dir, data_dir,
               options=TrainerOptions(), runner=None, log=log_line, listeners=(),
               input_options=input_pipeline.DEFAULT_INPUT):
    self.problem, self.hparams, self.options, self.log = problem, hparams, options, log
    self.output_dir, self.data_dir, self.input_options = output_dir, data_dir, input_options
    self.listeners = list(listeners)
    self.stop_reason = None  # why the last train() ended before train_steps, if it did
    self.stop_signal = None  # the signal that ended the last train(), if any
    self.runner = runner or runners.Runner(tf.distribute.get_strategy())
    evaluator.check_problem(problem, options.eval_split)  # before building anything
    state = builder.build(problem, model_cls, hparams, options, self.runner, output_dir, log)
    self.state = state
    self.model, self.optimizer, self.schedule = state.model, state.optimizer, state.schedule
    self.global_step, self.ema, self.step_fn = state.global_step, state.ema, state.step_fn
    self.evaluator = evaluator.Evaluator(problem, self.model, hparams, data_dir, options,
                                         self.runner, self.ema, log, input_options)
    self.summaries = Summaries(self.runner, output_dir)
    self.keeper = None  # with the training input's position, made with the iterator
    self._iterator = None

  def step(self):
    return int(self.global_step.numpy())

  def _listener_state(self):
    """The listeners' state, saved in every checkpoint; a checkpoint written before they
    were added (a run resumed with early stopping) restores without it."""
    if not self.listeners:
      return {}
    state = {"evaluated_step": self.state.evaluated_step}
    for listener in self.listeners:
      state.update(listener.checkpoint_state())
    return state

  def _train_iterator(self):
    if self._iterator is None:
      input_pipeline.check_some_examples_fit(
          self.problem, self.hparams, self.problem.data_files(self.data_dir, "train"))
      self._iterator = self.runner.train_iterator(run_input.dataset_fn(
          self.problem, self.hparams, self.data_dir, "train", True, self.options.seed,
          self.input_options))
      # The runner knows where each replica's input position is kept.
      self.keeper = self.runner.train_keeper(
          self.state.checkpointed(), self._iterator, self.output_dir,
          self.options.keep_checkpoint_max, self.log, optional=self._listener_state())
    return self._iterator

  def restore(self, checkpoint_path=None, with_input=True):
    """Restores the given or the newest readable checkpoint (with the training input's
    position when with_input); returns its step (0 if there is none)."""
    if with_input:
      self._train_iterator()
      path = self.keeper.restore(checkpoint_path)
    else:
      path = self.state.weights.restore(checkpoint_path, partial=True)
    if path:
      self.log(f"restored {path} (step {self.step()})")
    return self.runner.agreed_step(self.step(), self.output_dir)

  def save(self):
    self._train_iterator()
    path = self.runner.save(self.keeper, self.step())
    if self.runner.is_chief:  # the others' saves only take part in the chief's
      self.log(f"saved checkpoint {path}")
    return path

  def train(self, eval_fn=None, until_step=None):
    """Trains to train_steps (or until_step), saving a checkpoint every
    local_eval_frequency steps and at the end; calls eval_fn after each save, and stops
    when it returns a reason (self.stop_reason). On SIGTERM or SIGINT, saves at the next
    step boundary and returns (self.stop_signal says which)."""
    target = until_step or self.options.train_steps
    self.stop_reason = self.stop_signal = None
    step = self.step()
    if step >= target:
      self.log(f"step {step} >= train_steps {target}: nothing to train")
      return step
    iterator = self._train_iterator()
    self.summaries.writer("train")
    self.log(f"training from step {step} to {target}")
    loop = actions.LoopState(step, target)
    end = self._run_loop(iterator, loop, self._loop_actions(eval_fn))
    self.stop_reason, self.stop_signal = (end.reason, end.signal) if end else (None, None)
    self.summaries.write("train", loop.step, {})
    if self.stop_signal is None and (loop.step >= self.options.train_steps or
                                     self.stop_reason):
      self.runner.finish_training(self.model, self.log)
    return loop.step

  def _loop_actions(self, eval_fn):
    """The actions plugged into the loop, in the order they act after each call."""
    # Only the chief traces: it is the process that writes to output_dir.
    profiler = step_profiler.StepProfiler(
        step_profiler.parse_steps(self.options.profile_steps) if self.runner.is_chief
        else None, self.output_dir, self.log)
    window = actions.LossWindow(self.options.log_step_count_steps, self.step_fn,
                                self.schedule, self.optimizer, self.summaries, self.log)
    rollback = actions.Rollback(self.step_fn, self.optimizer, self.global_step,
                                self.keeper.candidates, self.state.weights, window,
                                self.output_dir, self.log)
    return [profiler, rollback, window, actions.StopOnSignal(self.runner, self.save, self.log),
            actions.Checkpoint(self.options.local_eval_frequency, self.save, eval_fn,
                               rollback, window, self.log)]

  def _run_loop(self, iterator, loop, plugged):
    """Calls of the step until the target or a LoopEnd (returned)."""
    steps_per_call = 10
    with contextlib.ExitStack() as stack:
      for action in plugged:
        action.open(loop)
        stack.callback(action.close)
      while loop.step < loop.target:
        steps = min(loop.target - loop.step, steps_per_call)
        for action in plugged:
          steps = action.limit(loop.step, steps)
        for action in plugged:
          action.before_call(loop.step)
        call_start = time.time()
        try:
          loop.loss_sum, loop.tokens = self.runner.run_steps(self.step_fn, iterator, steps)
        except run_input.DATA_ERRORS as e:
          raise (run_input.data_error(self.problem, self.data_dir, "train", e) or e) from None
        # Size the next call to take about SECONDS_PER_CALL (prompt stop requests).
        per_step = (time.time() - call_start) / max(self.step() - loop.step, 1)
        steps_per_call = max(1, min(1000, int(SECONDS_PER_CALL / max(per_step, 1e-6))))
        loop.step = self.step()
        end = _after_call(plugged, loop)
        if end:
          return end
    return None

  def evaluate(self):
    """The Evaluator's metrics, logged and written as summaries; {} on a task that does
    not evaluate."""
    if not self.runner.is_chief:
      return {}
    results, examples = self.evaluator.evaluate()
    step = self.step()
    self.log(f"eval at step {step} ({self.options.eval_split}, {examples} examples): " +
             "  ".join(f"{k} {v:.4f}" for k, v in results.items()))
    self.summaries.write("eval", step, {f"metrics/{k}": v for k, v in results.items()})
    return results

  def train_and_evaluate(self):
    """Trains, evaluating at every checkpoint; returns the last eval's metrics."""
    self.restore()
    if self.step() >= self.options.train_steps:
      return self.evaluate()
    results = {}

    def evaluate_and_tell_listeners():
      results.update(self.evaluate())
      return self._tell_listeners(results)

    if self._missed_evaluation():
      self.stop_reason = evaluate_and_tell_listeners()
      if self.stop_reason:
        self.log(f"stopping at step {self.step()}: {self.stop_reason}")
        return results
    self.train(eval_fn=evaluate_and_tell_listeners)
    return results

  def _tell_listeners(self, results):
    """Tells the listeners of an evaluation; returns the first reason to stop, which
    every worker agrees on (they leave the loop at the same step, or their collectives
    would not pair up)."""
    if not self.listeners:
      return None
    step, reason = self.step(), None
    if self.runner.is_chief:  # the one that evaluates
      for listener in self.listeners:
        reason = listener.after_evaluation(self, step, results)
        if reason:
          break
    self.state.evaluated_step.assign(step)
    return self.runner.agreed_stop(reason)

  def _missed_evaluation(self):
    """Whether the restored checkpoint was saved for an evaluation whose result its
    listeners' state lacks: checkpoints are written just before the evaluation, so a run
    killed during or after it resumes without it. Evaluating it again (as deterministic
    as the first time) makes the resumed run stop where an uninterrupted one would."""
    step = self.step()
    return (bool(self.listeners) and step > 0 and
            step % self.options.local_eval_frequency == 0 and
            int(self.state.evaluated_step.numpy()) < step)

  def continuous_eval(self, timeout_secs, poll_secs=10):
    """Evaluates each new checkpoint until one reaches train_steps (or timeout)."""
    return schedules.continuous_eval(self, timeout_secs, poll_secs)


def _after_call(plugged, loop):
  """Tells the actions a call ended, in order; the LoopEnd one of them returned, if any."""
  for action in plugged:
    outcome = action.after_call(loop)
    if outcome == actions.NEXT_CALL:
      return None
    if outcome:
      return outcome
  return None


Trainer = Controller  # the name callers and tests have always used
