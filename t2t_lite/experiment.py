"""Turns registry names from the command line into a problem, a model class and hparams.

Everything a user can mistype is resolved here, before any file is written, so a wrong
name or hparam fails with one line and leaves output_dir untouched.

What a run combines (`experiment.*` in gin) and how t2t-trainer runs it (`run.*`) are
declared option groups (options.py); hparam overrides are gin bindings, under the name of
the hparam's group (`transformer.num_heads = 16`) or `hparams.*`, and --hparams. The
precedence is the registered hparams set < gin < --hparams.
"""
import gin

from t2t_lite import mixed_precision, options, registry, usr_dir
from t2t_lite.capabilities import benchmark_shapes
from t2t_lite.errors import UserError, suggestion
from t2t_lite.options import setting
from t2t_lite.training import learning_rate, schedules, strategies

SCHEDULES = tuple(schedules.SCHEDULES)


def load_registrations(t2t_usr_dir=None):
  """Imports the built-in problems, models, hparams sets, optimizers and schedules, then
  the user's directory. The built-in packages register themselves on import, so they are
  imported here, when a binary asks, rather than by whoever imports the engine."""
  # pylint: disable=unused-import,import-outside-toplevel
  import t2t_lite.hparams  # noqa: F401
  import t2t_lite.models  # noqa: F401
  import t2t_lite.problems  # noqa: F401
  from t2t_lite.training import optimizers  # noqa: F401
  usr_dir.import_usr_dir(t2t_usr_dir)


@options.group("experiment")
class ExperimentOptions(options.Options):
  """What a run combines."""
  problem: str | None = setting(None, "Registered problem name, e.g. "
                                "algorithmic_reverse_decimal40, or a mixture of registered "
                                "problems, a+b.")
  model: str | None = setting(None, "Registered model name, e.g. transformer.")
  hparams_set: str | None = setting(None, "Registered hparams set, e.g. transformer_tiny.")
  data_dir: str | None = setting(None, "Where the problem's TFRecords and vocabulary live "
                                 "(default: OUTPUT_DIR/data).")
  problem_settings: str = setting(
      "", "Settings of a problem that needs no code: 'name=value,...' (paths, vocabulary "
      "type and size). Given to t2t-datagen, saved in --data_dir and read from there by "
      "the other binaries.")
  tfds_data_dir: str | None = setting(
      None, "Where TFDS-backed problems keep their tensorflow_datasets data (default: "
      "TFDS's own, ~/tensorflow_datasets).")
  mixture_rates: str = setting(
      "", "For a mixture (--problem=a+b or a registered one): the rate of each member in "
      "training, comma-separated and relative, e.g. 0.7,0.3 (default: the mixture's own, "
      "else equal).")


@options.group("run")
class RunOptions(options.Options):
  """How t2t-trainer runs an experiment: the schedule and the strategy."""
  schedule: str = setting("train_and_evaluate",
                          "What to run: train only, evaluate the latest checkpoint once, "
                          "train and evaluate at every checkpoint, or evaluate each new "
                          "checkpoint as it appears.", choices=SCHEDULES)
  strategy: str = setting("default", "tf.distribute strategy: " + "; ".join(
      f"{name} ({kind.help})" for name, kind in strategies.STRATEGIES.items()) + ".",
      choices=tuple(strategies.STRATEGIES))
  worker_gpu: int = setting(0, "Replicas for --strategy=mirrored (0: all GPUs).", minimum=0)
  tpu: str | None = setting(None, "For --strategy=tpu: the Cloud TPU's name or grpc:// "
                            "address, or 'local' on a TPU VM.")
  all_reduce: str = setting(
      "auto", "How synchronous replicas sum gradients: auto (TensorFlow's choice), ring "
      "(multi_worker_mirrored's ring all-reduce over gRPC) or nccl (NCCL between GPUs; "
      "mirrored and multi_worker_mirrored).", choices=strategies.ALL_REDUCE)
  all_reduce_pack_bytes: int = setting(
      0, "multi_worker_mirrored: all-reduce the gradients in packs of this many bytes, "
      "fewer and larger collectives (0: TensorFlow's choice).", minimum=0)
  deterministic: bool = setting(
      False, "Deterministic ops (TF op determinism; seeds from --random_seed): a run "
      "killed at any step and rerun ends bit-identical to an uninterrupted one.")
  eval_timeout_secs: int = setting(3600, "continuous_eval stops after this long without "
                                   "a new checkpoint.", minimum=1)

  def __post_init__(self):
    super().__post_init__()
    strategies.check_settings(self.strategy, self.worker_gpu, self.tpu)

  def all_reduce_settings(self) -> strategies.AllReduce:
    return strategies.AllReduce(self.all_reduce, self.all_reduce_pack_bytes)


@gin.configurable("hparams")
def hparams_bindings(**values):
  """gin's hparam overrides: `hparams.learning_rate_constant = 0.5`."""
  return values


def gin_overrides():
  """[(binding, hparam, value)] bound in gin: under each hparams group's name, then
  `hparams.*` (later wins)."""
  out = [(f"{group.gin_name}.{name}", name, value)
         for group in options.HPARAMS_GROUPS.values()
         for name, value in group.gin_bindings().items()]
  return out + [(f"hparams.{name}", name, value) for name, value in hparams_bindings().items()]


def apply_overrides(hparams, overrides=""):
  """gin's hparam bindings, then the --hparams string: the hparams set < gin < flag."""
  for binding, name, value in gin_overrides():
    if name not in hparams:
      raise UserError(f"unknown hparam '{name}' in gin binding {binding}"
                      f"{suggestion(name, hparams.values())}")
    hparams.set_hparam(name, value)
  return hparams.parse(overrides)


def overrides(hparams_set, requested, resolved=None):
  """{name: value} of the `requested` hparams (the set with gin's and --hparams'
  overrides) that differ from the registered set's, for config.gin; with the `resolved`
  ones, activation_dtype=auto as the dtype it became. What the problem's data fixes
  (vocabulary sizes) is left out: a rerun derives it again."""
  base, values = registry.hparams(hparams_set).values(), requested.values()
  changed = {k: v for k, v in values.items() if base.get(k) != v}
  if resolved is not None and "activation_dtype" in changed:
    # Recorded even where it became the set's own dtype: the run asked for a choice.
    changed["activation_dtype"] = resolved.activation_dtype
  return changed


def check_names_in_hparams(hparams):
  """The registry names inside hparams (optimizer, schedule factors)."""
  learning_rate.parse_schedule(hparams.learning_rate_schedule)
  registry.optimizers.get(hparams.optimizer)


def validate(problem, model_cls, hparams, between_hparams=True):
  """The one check of hparams before a run: the model's and the engine's declarations,
  the problem's, the names inside them, and that the problem's examples carry what the
  model reads. between_hparams=False leaves out the model's checks between hparams
  (T2TModel.check_hparams)."""
  model_cls.validate_hparams(hparams, between_hparams)
  problem.check_hparams(hparams)
  check_names_in_hparams(hparams)
  check_features(problem, model_cls, hparams)


def check_features(problem, model_cls, hparams):
  """Every feature the model reads is one the problem's examples have, of its dtype and
  rank (a speech model on a text problem is an error here, not mid-run)."""
  given = problem.feature_spec(hparams)
  for name, needed in model_cls.feature_spec(hparams).items():
    have = given.get(name)
    if have is None:
      raise UserError(f"model {model_cls.registry_name()} reads feature '{name}', which "
                      f"problem '{problem.name}' does not provide (it has "
                      f"{', '.join(sorted(given))}); use a model made for this problem")
    if have.dtype != needed.dtype or have.shape.rank != needed.shape.rank:
      raise UserError(f"model {model_cls.registry_name()} reads '{name}' as {needed.dtype.name} "
                      f"of rank {needed.shape.rank}, but problem '{problem.name}' gives "
                      f"{have.dtype.name} of rank {have.shape.rank}; use a model made for "
                      "this problem")


def resolve(problem_name, model_name, hparams_set, hparams_overrides="", between_hparams=True):
  """(problem instance, model class, hparams) with the overrides applied and checked
  (between_hparams: as in validate)."""
  problem = registry.problem(problem_name)
  model_cls = registry.model(model_name)
  hparams = apply_overrides(registry.hparams(hparams_set), hparams_overrides)
  if "has_inputs" in hparams:  # the problem's, known before its data (update_hparams)
    hparams.has_inputs = problem.has_inputs
  validate(problem, model_cls, hparams, between_hparams)
  return problem, model_cls, hparams


def final_hparams(problem, model_cls, requested, data_dir=None, *, log=None, run_dtype=None,
                  vocab_size=None, between_hparams=True):
  """The run's hparams, resolved: a frozen copy of `requested` (a set with its overrides,
  or a trained run's with the eval-time ones) with what the problem's data in `data_dir`
  fixes (vocabulary sizes, global audio statistics; Problem.update_hparams), or without a
  problem a benchmark's `vocab_size`, and activation_dtype=auto as the dtype it becomes
  (mixed_precision.resolve_auto, said with `log`; without `log` auto stays, for checks that
  build no model), validated. The one place hparams are completed; nothing changes them
  after."""
  hparams = requested.copy()
  if problem is not None and data_dir:
    problem.update_hparams(hparams, data_dir)
  elif problem is None and vocab_size:
    benchmark_shapes(model_cls).set_benchmark_vocab(hparams, vocab_size)
  if log is not None and "activation_dtype" in hparams:
    hparams.activation_dtype = mixed_precision.resolve_auto(hparams, log, run_dtype)
  if problem is not None:
    validate(problem, model_cls, hparams, between_hparams)
  else:
    model_cls.validate_hparams(hparams, between_hparams)
    check_names_in_hparams(hparams)
  return hparams.frozen()


def apply_eval_time_overrides(trained, overrides, model_cls, where="--hparams"):
  """A trained run's hparams with --hparams applied where evaluation and decoding may
  change them (batching, compute dtype: the declared eval_time hparams); any other is
  refused in one line, since the checkpoint fixes it."""
  changed = apply_overrides(trained.copy(), overrides)
  allowed = {s.name for s in model_cls.all_hparam_specs() if s.eval_time}
  fixed = sorted(k for k, v in changed.values().items()
                 if v != trained.get(k) and k not in allowed)
  if fixed:
    raise UserError(f"{where}: {', '.join(fixed)} cannot change after training (the run's "
                    f"hparams.json fixes them); only {', '.join(sorted(allowed))} may be "
                    "given here")
  return changed
