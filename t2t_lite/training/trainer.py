"""The training loop: the controller of a run (Orbit's Controller), under any strategy.

One Trainer owns the model, optimizer, checkpoints and summaries of one output_dir: the
outer loop of steps, checkpoints, evaluations, summaries, logging and preemption. How the
steps run under the strategy (in this process, in lockstep with other workers, or
scheduled on parameter-server workers) is its Runner's (runners.py); the step itself is
TrainStep's (train_step.py).

Checkpoints hold the model, the optimizer, the global step and the position of the
training input, so a resumed run reads the batches an uninterrupted run would have read.
Runs stop cleanly on SIGTERM/SIGINT (in a synchronous cluster, a signal to any task stops
every task after the same step), skip updates whose loss is not finite, and roll back to the
last checkpoint when that keeps happening.
"""
import contextlib
import os
import time

import tensorflow as tf

from t2t_lite import metrics, mixed_precision, options
from t2t_lite.data import input_pipeline
from t2t_lite.decoding import decoder
from t2t_lite.errors import UserError
from t2t_lite.layers import strategy_allows
from t2t_lite.options import setting
from t2t_lite.training import (
  effective_batch,
  ema,
  learning_rate,
  optimizers,
  preemption,
  runners,
  step_profiler,
)
from t2t_lite.training.checkpoints import WRITE_ERRORS, CheckpointKeeper
from t2t_lite.training.train_step import TrainStep, mean_per_token

# A tf.function call runs this long at most, so a stop request waits about this long.
SECONDS_PER_CALL = 2.0
MAX_ROLLBACKS = 3
PEER_STOP = "a stop request from another task"
_DATA_ERRORS = (tf.errors.DataLossError, tf.errors.InvalidArgumentError)


@options.group("Trainer")
class TrainerOptions(ema.WeightsOptions):
  """The settings of the training loop (gin: `Trainer.train_steps = 5000`)."""
  train_steps: int = setting(250000, "Train until this global step.", minimum=1)
  eval_steps: int = setting(100, "Eval batches per evaluation (0: the whole split).",
                            minimum=0)
  local_eval_frequency: int = setting(1000, "Save a checkpoint (and evaluate, with "
                                      "train_and_evaluate) every N steps.", minimum=1)
  keep_checkpoint_max: int = setting(20, "How many recent checkpoints to keep (0: all).",
                                     minimum=0)
  log_step_count_steps: int = setting(100, "Log loss and speed every N steps.", minimum=1)
  seed: int = setting(1234, "Seed for initialization and input shuffling.",
                      flag="random_seed", minimum=0, maximum=2 ** 31 - 1)
  eval_split: str = setting("dev", "Which split to evaluate on (e.g. dev, dev_long).")
  max_nonfinite_steps: int = setting(
      10, "Updates with a NaN/Inf loss are skipped; after this many in a row the run rolls "
      "back to its last checkpoint (and stops after 3 rollbacks).", minimum=1)
  eval_decode_samples: int = setting(
      100, "For problems scored on decoded text (translation: BLEU), decode this many "
      "examples of the eval split at each evaluation (0: skip).", minimum=0)
  eval_decode_hparams: str = setting("", "Search settings for those decodes, over "
                                     "t2t-decoder's defaults (as its --decode_hparams).")
  jit_compile: bool = setting(False, "Compile the training step with XLA (jit_compile). "
                              "Each new batch shape compiles anew: use fixed shapes (e.g. "
                              "packed inputs) to compile once.", flag="xla")
  profile_steps: str = setting(
      "", "START:END: write a TensorBoard profiler trace of training steps START through "
      "END (e.g. 101:110) into output_dir (plugins/profile; TensorBoard's Profile tab).")
  # The research workflow: best checkpoints, early stopping, EMA, effective batch size.
  best_metric: str = setting(
      "", "Keep the checkpoints that score best on this eval metric (e.g. bleu, wer, "
      "accuracy_per_sequence, neg_log_perplexity, member/bleu for a mixture) in "
      "OUTPUT_DIR/best/, never deleted by --keep_checkpoint_max; early stopping watches "
      "it too. Needs --schedule=train_and_evaluate.")
  keep_best_checkpoints: int = setting(1, "How many of the best checkpoints to keep in "
                                       "OUTPUT_DIR/best/.", minimum=1)
  early_stopping_patience: int = setting(
      0, "Stop training after this many evaluations in a row without an improvement of "
      "--best_metric (0: never stop early).", minimum=0)
  early_stopping_min_delta: float = setting(
      0.0, "An evaluation improves on the best so far only by more than this.", minimum=0)
  effective_batch_size: int = setting(
      0, "Tokens per update: picks gradient_accumulation_steps from the replicas and "
      "batch_size at start, so a recipe makes the same updates on any number of devices "
      "(0: off).", minimum=0)

  def __post_init__(self):
    super().__post_init__()
    decoder.DecodeHParams.from_string(self.eval_decode_hparams, "--eval_decode_hparams")
    if self.early_stopping_patience and not self.best_metric:
      raise UserError("--early_stopping_patience watches --best_metric: name the metric "
                      "(e.g. --best_metric=bleu)")
    step_profiler.parse_steps(self.profile_steps)


class EvaluationListener:
  """Told of every evaluation during train_and_evaluate, and able to end training: what
  best-checkpoint keeping, early stopping or a hyperparameter search's pruner need.
  Trainer(listeners=[...]) calls them in order; the first reason to stop wins."""

  def after_evaluation(self, trainer: "Trainer", step: int, results: dict) -> str | None:
    """Returns a reason to stop training now (logged), or None to go on."""
    return None

  def checkpoint_state(self) -> dict:
    """Trackables (e.g. tf.Variables of a best-so-far value) saved in every checkpoint, so
    a resumed run continues where an uninterrupted one would."""
    return {}


def log_line(message):
  print(message, flush=True)  # progress must show at once, also when piped to a file


def _format_eta(seconds):
  seconds = int(seconds)
  if seconds >= 3600:
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
  return f"{seconds // 60}m{seconds % 60:02d}s"


def build_model(model_cls, hparams):
  """The model, in the compute dtype of its hparams."""
  with mixed_precision.policy_scope(hparams):
    return model_cls(hparams)


class Trainer:

  def __init__(self, problem, model_cls, hparams, output_dir, data_dir,
               options=TrainerOptions(), runner=None, log=log_line, listeners=(),
               input_options=input_pipeline.DEFAULT_INPUT):
    self.problem, self.hparams = problem, hparams
    self.input_options = input_options
    self.listeners = list(listeners)
    self.stop_reason = None  # why the last train() ended before train_steps, if it did
    self.output_dir, self.data_dir = output_dir, data_dir
    self.options = options
    self.log = log
    self.runner = runner or runners.Runner(tf.distribute.get_strategy())
    self.strategy = self.runner.strategy
    self.stop_signal = None  # the signal that ended the last train(), if any
    metrics.check_names(problem.eval_metrics, problem.name)
    decoder.check_decoded_metric_names(problem.decode_metrics, problem.name)
    problem.check_split(options.eval_split)
    # The hparams of the step: gradient accumulation may follow from --effective_batch_size
    # (a run's hparams.json keeps what was given, so it resumes on other device counts).
    step_hparams = effective_batch.apply(hparams, options.effective_batch_size,
                                         self.strategy.num_replicas_in_sync, log)
    self.runner.check_hparams(step_hparams)
    # The layers read what the runner's strategy allows (strategy_allows.current()).
    with self.strategy.scope(), strategy_allows.using(self.runner.allows):
      self.model = build_model(model_cls, hparams)
      self.model.build_from_features(self._dummy_features())
      self.schedule = learning_rate.FactorSchedule(hparams, options.train_steps)
      self.optimizer = optimizers.make_optimizer(hparams, self.schedule)
      self.optimizer.build(self.model.trainable_variables)
      self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
      self.ema = ema.make(self.model, hparams)
      # The step of the last evaluation the listeners were told of (see _missed_evaluation).
      self.evaluated_step = tf.Variable(
          -1, dtype=tf.int64, trainable=False, name="evaluated_step",
          aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.step_fn = TrainStep(self.strategy, self.model, self.optimizer, step_hparams,
                             self.global_step, options.max_nonfinite_steps,
                             options.jit_compile, update_gate=self.schedule.gate, ema=self.ema,
                             allows=self.runner.allows)
    # Weights only (no input position): evaluation, and rollbacks after non-finite losses.
    self.weights = CheckpointKeeper(tf.train.Checkpoint(**self._checkpointed()), output_dir,
                                    options.keep_checkpoint_max, log)
    self.keeper = None  # with the training input's position, made with the iterator
    self._iterator = None
    self._eval_fn = None
    self._writers = {}
    self._eval_decoders = {}  # evaluation part's label ("": the whole problem) -> decoder
    self._logged_decode_note = False
    self._eval_decode_hparams = decoder.DecodeHParams.from_string(
        options.eval_decode_hparams, "--eval_decode_hparams")

  # -- setup ------------------------------------------------------------------------------
  def _checkpointed(self):
    """What every checkpoint holds besides the training input's position and the
    listeners' state."""
    return dict(model=self.model, optimizer=self.optimizer, global_step=self.global_step,
                **self.step_fn.checkpoint_state())

  def _listener_state(self):
    """The listeners' state, saved in every checkpoint; a checkpoint written before they
    were added (a run resumed with early stopping) restores without it."""
    if not self.listeners:
      return {}
    state = {"evaluated_step": self.evaluated_step}
    for listener in self.listeners:
      state.update(listener.checkpoint_state())
    return state

  def _dummy_features(self):
    return self.model.dummy_features(self.problem.has_inputs)

  def _train_iterator(self):
    if self._iterator is None:
      input_pipeline.check_some_examples_fit(
          self.problem, self.hparams, self.problem.data_files(self.data_dir, "train"))
      self._iterator = self.runner.train_iterator(self._dataset_fn("train", training=True))
      # The runner knows where each replica's input position is kept.
      self.keeper = self.runner.train_keeper(self._checkpointed(), self._iterator,
                                             self.output_dir,
                                             self.options.keep_checkpoint_max, self.log,
                                             optional=self._listener_state())
    return self._iterator

  def restore(self, checkpoint_path=None, with_input=True):
    """Restores the given or the newest readable checkpoint (with the training input's
    position when with_input); returns its step (0 if there is none)."""
    if with_input:
      self._train_iterator()
      path = self.keeper.restore(checkpoint_path)
    else:
      path = self.weights.restore(checkpoint_path, partial=True)
    if path:
      self.log(f"restored {path} (step {int(self.global_step.numpy())})")
    return self.runner.agreed_step(int(self.global_step.numpy()), self.output_dir)

  def _writer(self, name):
    if name not in self._writers:
      path = self.output_dir if name == "train" else os.path.join(self.output_dir, name)
      self._writers[name] = self.runner.summary_writer(path)
    return self._writers[name]

  def _dataset_fn(self, split, training, problem=None):
    """input_context -> the split's batched tf.data pipeline (for the runner)."""
    problem = problem or self.problem
    problem.data_files(self.data_dir, split)  # a clear error before tf.data starts

    def fn(input_context=None):
      return input_pipeline.make_dataset(problem, self.hparams, self.data_dir, split,
                                         training, seed=self.options.seed,
                                         input_context=input_context,
                                         input_options=self.input_options)
    return fn

  def _data_error(self, split, error):
    """A UserError naming the damaged file behind a tf.data failure, or None when every
    file reads fine (then the error is not the data's, and keeps its traceback)."""
    files = self.problem.data_files(self.data_dir, split)
    bad = input_pipeline.find_corrupt_file(self.problem, files)
    if bad is None:
      return None
    return UserError(f"data file {bad} is damaged "
                     f"({error.message.strip().splitlines()[0][:120]}); delete it and "
                     f"run t2t-datagen --problem={self.problem.name} again")

  # -- training ---------------------------------------------------------------------------
  def train(self, eval_fn=None, until_step=None):
    """Trains to train_steps (or until_step), saving a checkpoint every
    local_eval_frequency steps and at the end; calls eval_fn after each save, and stops
    when it returns a reason (self.stop_reason). On SIGTERM or SIGINT, saves at the next
    step boundary and returns (self.stop_signal says which)."""
    target = until_step or self.options.train_steps
    self.stop_reason = None
    log_every, save_every = self.options.log_step_count_steps, self.options.local_eval_frequency
    step = int(self.global_step.numpy())
    if step >= target:
      self.log(f"step {step} >= train_steps {target}: nothing to train")
      return step
    iterator = self._train_iterator()
    writer = self._writer("train")
    self.log(f"training from step {step} to {target}")
    last_time, last_step = time.time(), step
    start_time, start_step = last_time, step
    steps_per_call, rollbacks, skipped = 10, 0, int(self.step_fn.nonfinite_total.numpy())
    # The logged loss is per token over every step since the last log, so it does not
    # depend on how calls (sized by the clock) split those steps.
    window_loss, window_tokens = 0.0, 0.0
    updates_at_rollback = None  # optimizer.iterations right after the last rollback
    self.stop_signal = None
    # Only the chief traces: it is the process that writes to output_dir.
    profiler = step_profiler.StepProfiler(
        step_profiler.parse_steps(self.options.profile_steps) if self.runner.is_chief
        else None, self.output_dir, self.log)
    with preemption.StopRequest() as stop, contextlib.closing(profiler):
      while step < target:
        next_log = (step // log_every + 1) * log_every
        next_save = (step // save_every + 1) * save_every
        chunk = profiler.limit(step, min(next_log, next_save, target, step + steps_per_call)
                               - step)
        profiler.before_call(step)
        call_start = time.time()
        try:
          loss_sum, tokens = self.runner.run_steps(self.step_fn, iterator, chunk)
        except _DATA_ERRORS as e:
          raise (self._data_error("train", e) or e) from None
        new_step = int(self.global_step.numpy())
        profiler.after_call(new_step)
        # Size the next call to take about SECONDS_PER_CALL (prompt stop requests).
        per_step = (time.time() - call_start) / max(new_step - step, 1)
        steps_per_call = max(1, min(1000, int(SECONDS_PER_CALL / max(per_step, 1e-6))))
        step = new_step
        window_loss, window_tokens = window_loss + loss_sum, window_tokens + tokens
        total = int(self.step_fn.nonfinite_total.numpy())
        if total > skipped:
          self.log(f"WARNING: skipped {total - skipped} update(s) with a non-finite loss "
                   f"before step {step}")
          skipped = total
        if int(self.step_fn.nonfinite_run.numpy()) >= self.step_fn.max_nonfinite_steps:
          rollbacks += 1
          step = self._roll_back(rollbacks)
          updates_at_rollback = int(self.optimizer.iterations.numpy())
          last_time, last_step = time.time(), step
          window_loss, window_tokens = 0.0, 0.0
          continue
        now = time.time()
        if step % log_every == 0 or step == target:
          rate = (step - last_step) / max(now - last_time, 1e-9)
          overall = (step - start_step) / max(now - start_time, 1e-9)
          lr = float(self.schedule(self.optimizer.iterations - 1))
          loss = mean_per_token(window_loss, window_tokens)
          window_loss, window_tokens = 0.0, 0.0
          self.log(f"step {step}/{target}  loss {loss:.4f}  lr {lr:.3g}  {rate:.2f} steps/s"
                   f"  ETA {_format_eta((target - step) / max(overall, 1e-9))}")
          scalars = {"loss": loss, "learning_rate": lr, "global_step/sec": rate}
          if self.step_fn.loss_scale is not None:  # float16: is the scale settling?
            scalars["loss_scale"] = float(self.step_fn.loss_scale.scale.numpy())
          self._summaries(writer, step, scalars)
          last_time, last_step = now, step
        # In a synchronous cluster a signal to any task stops every task after this step.
        if self.runner.agreed_stop(bool(stop)):
          path = self.save()
          self.stop_signal = stop.signal_name or PEER_STOP
          self.log(f"received {self.stop_signal} at step {step}: saved {path}; rerun the "
                   "same command to resume")
          break
        if step % save_every == 0 or step == target:
          self.save()
          if updates_at_rollback is not None and \
              int(self.optimizer.iterations.numpy()) > updates_at_rollback:
            rollbacks, updates_at_rollback = 0, None  # training recovered
          if eval_fn is not None:
            self.stop_reason = eval_fn()
            if self.stop_reason:
              self.log(f"stopping at step {step}: {self.stop_reason}")
              break
          last_time = time.time()  # eval time is not training time
    self._summaries(writer, step, {})
    if self.stop_signal is None and (step >= self.options.train_steps or self.stop_reason):
      self.runner.finish_training(self.model, self.log)
    return step

  def _summaries(self, writer, step, values):
    """Writes and flushes TensorBoard scalars; a full disk is a one-line error."""
    try:
      with writer.as_default(step=step):
        for name, value in values.items():
          tf.summary.scalar(name, value)
      writer.flush()
    except WRITE_ERRORS as e:
      raise UserError(f"could not write TensorBoard summaries to {self.output_dir} "
                      f"({str(e).strip().splitlines()[0][:120]}): free disk space there; the "
                      "last checkpoint is intact and a rerun resumes from it") from None

  def _roll_back(self, rollbacks):
    """After max_nonfinite_steps non-finite losses in a row: back to the last checkpoint's
    weights (the input moves on, past the batches that failed)."""
    n = self.step_fn.max_nonfinite_steps
    step = int(self.global_step.numpy())
    candidates = self.keeper.candidates() if self.keeper else self.weights.candidates()
    if rollbacks > MAX_ROLLBACKS or not candidates:
      kept = (f"The checkpoints in {self.output_dir} are intact" if candidates
              else "No checkpoint was written yet")
      raise UserError(f"the loss was not finite for {n} steps in a row at step {step}"
                      + (f", also after {MAX_ROLLBACKS} rollbacks" if rollbacks > 1 else "")
                      + "; lower the learning rate (--hparams=learning_rate_constant=...) or "
                      f"check the data. {kept}")
    path = self.weights.restore(candidates[0], partial=True)
    self.step_fn.nonfinite_run.assign(0)
    restored = int(self.global_step.numpy())
    self.log(f"WARNING: {n} non-finite losses in a row at step {step}: rolled back to {path} "
             f"(step {restored}), continuing with the next batches")
    return restored

  def save(self):
    step = int(self.global_step.numpy())
    self._train_iterator()
    path = self.runner.save(self.keeper, step)
    if self.runner.is_chief:  # the others' saves only take part in the chief's
      self.log(f"saved checkpoint {path}")
    return path

  # -- evaluation -------------------------------------------------------------------------
  def evaluate(self):
    """Teacher-forced metrics over eval_steps batches of the eval split (all if 0), and
    the problem's decoded metrics; {} on a task that does not evaluate. A problem with
    evaluation parts (a mixture's members) also reports each part's as part/metric."""
    if not self.runner.is_chief:
      return {}
    if self._eval_fn is None:
      detokenize = self.problem.detokenizer(self.data_dir)
      self._eval_fn = self.runner.eval_fn(
          lambda features: self.model.eval_metric_sums(features, detokenize))
    split = self.options.eval_split
    parts = self.problem.evaluation_parts()
    with self._evaluated_weights():
      if parts:
        results, totals = self._evaluate_parts(parts)
      else:
        totals = self._metric_sums(self.problem)
        results = metrics.finalize(totals, self.problem.eval_metrics)
        results.update(self._decoded_metrics(self.problem))
    step = int(self.global_step.numpy())
    self.log(f"eval at step {step} ({split}, {int(totals['sequences'])} examples): " +
             "  ".join(f"{k} {v:.4f}" for k, v in results.items()))
    self._summaries(self._writer("eval"), step, {f"metrics/{k}": v for k, v in results.items()})
    return results

  def _metric_sums(self, problem):
    """The eval metrics' sums over eval_steps batches of `problem`'s eval split."""
    split, eval_steps = self.options.eval_split, self.options.eval_steps
    totals = None
    try:
      for i, features in enumerate(self.runner.eval_batches(
          self._dataset_fn(split, training=False, problem=problem))):
        if eval_steps and i >= eval_steps:
          break
        sums = self._eval_fn(features)
        totals = sums if totals is None else {k: totals[k] + sums[k] for k in totals}
    except _DATA_ERRORS as e:
      raise (self._data_error(split, e) or e) from None
    if totals is None:
      raise UserError(f"the {split} split of '{problem.name}' in "
                      f"{self.data_dir} is empty; regenerate the data")
    return totals

  def _evaluate_parts(self, parts):
    """(results, pooled sums) of a problem evaluated part by part: part/metric for each,
    and the pooled metrics (teacher-forced over every part's examples; decoded ones, such
    as BLEU, the mean of the parts')."""
    results, pooled, decoded = {}, None, {}
    for label, part in parts:
      sums = self._metric_sums(part)
      pooled = sums if pooled is None else {k: pooled[k] + sums[k] for k in pooled}
      part_results = metrics.finalize(sums, self.problem.eval_metrics)
      for name, value in self._decoded_metrics(part, label).items():
        part_results[name] = value
        decoded.setdefault(name, []).append(value)
      results.update({f"{label}/{name}": value for name, value in part_results.items()})
    overall = metrics.finalize(pooled, self.problem.eval_metrics)
    overall.update({name: sum(values) / len(values) for name, values in decoded.items()})
    return {**overall, **results}, pooled

  def _evaluated_weights(self):
    """A context in which the model holds the weights evaluations report on: their
    exponential moving average when the run keeps one (unless --raw_weights)."""
    if self.ema is None or self.options.raw_weights:
      return contextlib.nullcontext()
    return self.ema.swapped_in()

  def _decoded_metrics(self, problem, label=""):
    """The problem's decode_metrics (real BLEU, with beam search) on the first
    eval_decode_samples examples of the eval split; {} for problems without them."""
    samples = self.options.eval_decode_samples
    if not problem.decode_metrics or not samples:
      return {}
    if label not in self._eval_decoders:
      self._eval_decoders[label] = problem.decoder_class(
          problem, self.model, self.hparams, self.data_dir, self._eval_decode_hparams)
    scores, note = self._eval_decoders[label].decoded_metrics(
        self.options.eval_split, samples, problem.decode_metrics)
    if not self._logged_decode_note:
      self.log(note)
      self._logged_decode_note = True
    return scores

  # -- schedules --------------------------------------------------------------------------
  def train_and_evaluate(self):
    """Trains, evaluating at every checkpoint; returns the last eval's metrics."""
    self.restore()
    if int(self.global_step.numpy()) >= self.options.train_steps:
      return self.evaluate()
    results = {}

    def evaluate_and_tell_listeners():
      results.update(self.evaluate())
      if not self.listeners:
        return None
      step = int(self.global_step.numpy())
      reason = None
      if self.runner.is_chief:  # the one that evaluates
        for listener in self.listeners:
          reason = listener.after_evaluation(self, step, results)
          if reason:
            break
      self.evaluated_step.assign(step)
      # Every worker leaves the loop at the same step (their collectives must pair up).
      return self.runner.agreed_stop(reason)

    if self._missed_evaluation():
      self.stop_reason = evaluate_and_tell_listeners()
      if self.stop_reason:
        self.log(f"stopping at step {int(self.global_step.numpy())}: {self.stop_reason}")
        return results
    self.train(eval_fn=evaluate_and_tell_listeners)
    return results

  def _missed_evaluation(self):
    """Whether the restored checkpoint was saved for an evaluation whose result its
    listeners' state lacks: checkpoints are written just before the evaluation, so a run
    killed during or after it resumes without it. Evaluating it again (as deterministic
    as the first time) makes the resumed run stop where an uninterrupted one would."""
    step = int(self.global_step.numpy())
    return (bool(self.listeners) and step > 0 and
            step % self.options.local_eval_frequency == 0 and
            int(self.evaluated_step.numpy()) < step)

  def continuous_eval(self, timeout_secs, poll_secs=10):
    """Evaluates each new checkpoint until one reaches train_steps (or timeout)."""
    last, waited, results = None, 0.0, None
    while True:
      # Another process writes the checkpoints: read the directory, not a manager.
      path = tf.train.latest_checkpoint(self.output_dir)
      if path and path != last:
        try:
          step = self.restore(path, with_input=False)
        except UserError as e:  # deleted by the trainer's keep_checkpoint_max meanwhile
          self.log(f"WARNING: skipping {path}: {e}")
          last = path
          continue
        results, last, waited = self.evaluate(), path, 0.0
        if step >= self.options.train_steps:
          return results
      elif waited >= timeout_secs:
        self.log(f"no new checkpoint in {timeout_secs}s; stopping continuous_eval")
        return results
      time.sleep(poll_secs)
      waited += poll_secs
