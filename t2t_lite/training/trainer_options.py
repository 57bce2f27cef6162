"""The settings of the training loop, and the contract of what listens to its evaluations.
"""
from t2t_lite import ema, options
from t2t_lite.decoding import decoder
from t2t_lite.errors import UserError
from t2t_lite.options import setting
from t2t_lite.training import step_profiler


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
  Trainer(listeners=[...]) calls them in order; the first reason to stop wins. `trainer`:
  the Controller (trainer.py)."""

  def after_evaluation(self, trainer, step: int, results: dict) -> str | None:
    """Returns a reason to stop training now (logged), or None to go on."""
    return None

  def checkpoint_state(self) -> dict:
    """Trackables (e.g. tf.Variables of a best-so-far value) saved in every checkpoint, so
    a resumed run continues where an uninterrupted one would."""
    return {}
