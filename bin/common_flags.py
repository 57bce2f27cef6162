"""Flags of the binaries, derived from the declared option groups, and the error boundary.

Every setting is declared once, on the object that uses it (t2t_lite/options.py):
`define_flags(TrainerOptions, ...)` defines their flags with the declared type, default,
help and choices. Underneath, gin is the one configuration: `parse_gin` applies --gin_file,
--gin_param and then every flag given on the command line as the gin binding of its
setting, so `Group.from_config()` sees flags > gin params > gin files > declared defaults.
"""
import os
import sys

from absl import app, flags, logging

import t2t_lite
from t2t_lite import ema, experiment, gin_config, machine, options, registry
from t2t_lite.data import mixture
from t2t_lite.decoding import decoder, run_settings
from t2t_lite.errors import UserError
from t2t_lite.experiment import ExperimentOptions
from t2t_lite.options import setting
from t2t_lite.training import best_checkpoints, preemption, run_dir

FLAGS = flags.FLAGS


# Read before gin is parsed (the user directory declares configurables gin files may bind;
# --registry_help), or after it (--hparams, over the hparams.* bindings): flags alone.
@options.group("Registry", bindable=False)
class RegistryOptions(options.Options):
  """Where names come from, and overrides of the hparams set."""
  hparams: str = setting("", "Overrides: 'name=value,name=value'.")
  t2t_usr_dir: str | None = setting(
      None, "A directory (Python package) of your own registered problems, models and "
      "hparams sets, imported before anything is looked up.")
  registry_help: bool = setting(False, "List every registered name and exit.")


# Not in gin: a run's config.gin, given to another run, must not carry its directories.
@options.group("Dir", bindable=False)
class DirOptions(options.Options):
  output_dir: str | None = setting(None, "Where checkpoints, summaries and hparams.json "
                                   "live.")
  tmp_dir: str | None = setting(None, "Scratch space for raw downloads (default: "
                                "DATA_DIR/tmp).")


@options.group("TrainedRun")
class TrainedRunOptions(ema.WeightsOptions):
  """Which checkpoint of a trained run, and how to search with it."""
  checkpoint_path: str | None = setting(None, "A checkpoint to use (default: the latest).")
  checkpoint: str = setting("latest", "Which checkpoint: the latest, or the best by the "
                            "run's --best_metric (OUTPUT_DIR/best/).",
                            choices=("latest", "best"))
  decode_hparams: str = setting(
      "", "Search settings: beam_size, alpha, length_penalty, extra_length, batch_size, "
      "num_samples, use_cache, sampling_method, sampling_temp, sampling_keep_top_k, "
      "sampling_seed, return_beams, nbest_format (speech: also lm_path, lm_weight, "
      "word_bonus), e.g. 'beam_size=4,alpha=0.6'. Over the run's saved "
      "OUTPUT_DIR/decode.json, if any.")


_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_bool,
           str: flags.DEFINE_string}


def define_flags(*groups, only=None, defaults=None, flag_values=FLAGS):
  """Defines the flag of every declared setting of `groups`, or of those named in `only`
  (a flag two groups declare is defined once, by the first). `defaults`: {name: value}, a
  binary's preset of a shared group's defaults."""
  for group in groups:
    for name, type_, declaration, default in group.declarations():
      flag = group.flag_name(name)
      if not flag or flag in flag_values or (only is not None and name not in only):
        continue
      default = (defaults or {}).get(name, default)
      if declaration.bounds.choices:
        flags.DEFINE_enum(flag, default, list(declaration.bounds.choices), declaration.help,
                          flag_values=flag_values)
      else:
        _DEFINE[type_](flag, default, declaration.help, flag_values=flag_values)
      # The group the flag binds (a subclass's, not a shared base's): the reference's.
      flag_values[flag].declared_by = group


def define_gin_flags(flag_values=FLAGS):
  if "gin_file" in flag_values:  # another binary's module, imported in the same process
    return
  flags.DEFINE_multi_string("gin_file", [], "A gin config file (repeatable; later files win), "
                            "e.g. a run's own OUTPUT_DIR/config.gin.", flag_values=flag_values)
  flags.DEFINE_multi_string("gin_param", [], "A gin binding, e.g. "
                            "\"hparams.learning_rate_constant = 0.5\" (repeatable; applied "
                            "after --gin_file; flags given on the command line win over both).",
                            flag_values=flag_values)


def define_experiment_flags(dirs=("output_dir", "tmp_dir"), flag_values=FLAGS):
  """What every binary that runs a model takes: registry names, gin, directories."""
  define_flags(ExperimentOptions, RegistryOptions, flag_values=flag_values)
  define_flags(DirOptions, only=dirs, flag_values=flag_values)
  define_gin_flags(flag_values)


def _declaration(group, flag):
  return {group.flag_name(n): d for n, _, d, _ in group.declarations()}[flag]


def _defined_from(flag, group):
  """Whether `flag` was defined from `group`'s declaration of it (its own, or that of a
  base the groups share), not another group's setting of the same name."""
  definer = getattr(flag, "declared_by", None)
  return definer is None or _declaration(definer, flag.name) is _declaration(group, flag.name)


def parse_gin(*groups, flag_values=FLAGS, skip_unknown=False):
  """Applies --gin_file, --gin_param, then the flags of `groups` (and ExperimentOptions)
  given on the command line, as gin bindings (a flag of a base two groups share binds
  both); a flag's default that the binary presets (define_flags' `defaults`) binds first,
  under the gin files. skip_unknown: skip bindings of configurables not registered (yet):
  those of a user directory not imported. Returns the ExperimentOptions."""
  given, presets = [], []
  for group in dict.fromkeys((ExperimentOptions,) + groups):
    bindings = {flag: binding for flag, binding in group.flag_bindings().items()
                if flag in flag_values and _defined_from(flag_values[flag], group)}
    given += gin_config.flag_bindings(flag_values, bindings)
    defaults = {n: d for n, _, _, d in group.declarations()}
    presets += [f"{binding} = {gin_config.literal(flag_values[flag].default)}"
                for flag, binding in bindings.items()
                if flag_values[flag].default != defaults[binding.split(".", 1)[1]]]
  gin_config.parse(flag_values.gin_file, flag_values.gin_param, given, presets=presets,
                   skip_unknown=skip_unknown)
  return ExperimentOptions.from_config()


def load_registrations_and_gin(*groups, flag_values=FLAGS):
  """The common start: the registrations (and --t2t_usr_dir's), --registry_help, gin.
  Returns the ExperimentOptions."""
  experiment.load_registrations(flag_values.t2t_usr_dir)
  if flag_values.registry_help:
    print(registry.help_string())
    sys.exit(0)
  return parse_gin(*groups, flag_values=flag_values)


def configure_threads(log=None):
  """TensorFlow's thread pools from the binary's thread settings (machine.ThreadOptions:
  its flags and gin, after parse_gin) and the usable cores, before TensorFlow's runtime
  starts; logged with `log` (binaries whose stderr must stay one error line on a failure
  pass none)."""
  settings, note = machine.configure_threads(machine.ThreadOptions.from_config())
  if log:
    log(f"threads: {settings.describe()}{note}")
  return settings


def log_to_stderr(message):
  """For binaries whose stdout is their output (decoded text, JSON)."""
  print(message, file=sys.stderr, flush=True)


def data_dir(names, flag_values=FLAGS):
  """--data_dir (or experiment.data_dir), else OUTPUT_DIR/data."""
  if names.data_dir:
    return os.path.expanduser(names.data_dir)
  if flag_values.output_dir:
    return os.path.join(os.path.expanduser(flag_values.output_dir), "data")
  return None


def tmp_dir(names, flag_values=FLAGS):
  if flag_values.tmp_dir:
    return os.path.expanduser(flag_values.tmp_dir)
  return os.path.join(data_dir(names), "tmp") if data_dir(names) else None


def require(names, *wanted, flag_values=FLAGS):
  """Settings that must have a value: flags, or their gin bindings (experiment.*)."""
  configured = names.values()
  missing = [n for n in wanted if not (configured.get(n) or
                                       (n in flag_values and flag_values[n].value))]
  bindings = ExperimentOptions.flag_bindings()
  if missing:
    raise UserError("missing " + ", ".join(
        f"--{n}" + (f" (or {bindings[n]} in gin)" if n in bindings else "")
        for n in missing))


def run_main(main, prog):
  """absl's app.run, with UserError shown as one line and exit status 2, and --version."""
  if "version" not in FLAGS:
    flags.DEFINE_bool("version", False, "Print t2t_lite's version and exit.")

  def wrapped(argv):
    if FLAGS.version:
      print(f"{prog} (t2t_lite) {t2t_lite.__version__}")
      return 0
    logging.set_verbosity(logging.WARNING)  # our own progress lines go to stdout
    try:
      return main(argv)
    except UserError as e:
      # gin appends "In call to configurable ..." to errors raised inside configurables.
      message = str(e).split("\n  In call to configurable")[0]
      print(f"{prog}: error: {message}", file=sys.stderr)
      sys.exit(2)
    except KeyboardInterrupt:
      print(f"{prog}: interrupted", file=sys.stderr)
      sys.exit(130)
    except preemption.TaskLost as e:
      print(f"{prog}: {e}; exiting with status {preemption.RESTART_EXIT_STATUS} for the "
            "cluster to restart this task (it resumes from the last checkpoint)",
            file=sys.stderr)
      sys.stdout.flush()
      sys.stderr.flush()
      # Not sys.exit: TensorFlow's shutdown would wait for the lost peer at its barrier.
      os._exit(preemption.RESTART_EXIT_STATUS)

  def parse_flags(argv):
    # A flag absl cannot parse (--train_steps=abc, an unknown flag or choice) is a user's
    # mistake like any other: one line and status 2, not absl's "FATAL" and status 1.
    try:
      return FLAGS(argv)
    except flags.Error as e:
      print(f"{prog}: error: {e}", file=sys.stderr)
      sys.exit(2)
  app.run(wrapped, flags_parser=parse_flags)


def configure_problem(problem, data_dir, names):
  """Applies --problem_settings and --tfds_data_dir (or their gin bindings) to `problem`,
  over the settings saved in data_dir."""
  overrides = names.problem_settings or ""
  if names.mixture_rates:
    if not isinstance(problem, mixture.MixtureProblem):
      raise UserError(f"--mixture_rates: problem {problem.name} is not a mixture (name one "
                      "as a+b, or register a MixtureProblem)")
    problem.set_rates(mixture.parse_rates(names.mixture_rates))
  if names.tfds_data_dir:
    if "tfds_data_dir" not in problem.default_settings().values():
      raise UserError(f"--tfds_data_dir: problem {problem.name} does not read TFDS data")
    path = os.path.abspath(os.path.expanduser(names.tfds_data_dir))
    overrides = ",".join(x for x in (overrides, f"tfds_data_dir={path}") if x)
  return problem.configure(overrides, data_dir)


def run_at(output_dir, names, trained, hparams_overrides, own_names=False):
  """(problem, model class, hparams, data_dir, checkpoint, decode hparams) of the run in
  output_dir, for the binaries that use a trained run (decoder, exporter): names and
  hparams from its run.json and hparams.json (`hparams_overrides`, --hparams, may change
  the eval-time ones), the checkpoint `trained` (TrainedRunOptions) names, the data_dir it
  was trained from, and its --decode_hparams over the run's decode.json. Everything is
  validated before it returns. own_names: its own problem and model even when --problem/
  --model are given (each member of an ensemble)."""
  run = run_dir.read_run(output_dir) or {}
  problem_name = (None if own_names else names.problem) or run.get("problem")
  model_name = (None if own_names else names.model) or run.get("model")
  if not problem_name or not model_name:
    raise UserError(f"{output_dir} holds no run.json; pass --problem and --model")
  problem = registry.problem(problem_name)
  model_cls = registry.model(model_name)
  dhp = decode_hparams_of(output_dir, problem, trained.decode_hparams)
  if names.hparams_set:
    registry.hparams(names.hparams_set)  # a mistyped name is still an error
  hparams = experiment.final_hparams(problem, model_cls, experiment.apply_eval_time_overrides(
      run_dir.read_hparams(output_dir), hparams_overrides, model_cls), log=log_to_stderr)
  checkpoint = checkpoint_of(output_dir, trained)
  # The vocabulary lives where the run was trained from, unless --data_dir says otherwise.
  data = (os.path.expanduser(names.data_dir) if names.data_dir
          else run.get("data_dir") or data_dir(names))
  configure_problem(problem, data, names)
  return problem, model_cls, hparams, data, checkpoint, dhp


def checkpoint_of(output_dir, trained):
  """The checkpoint --checkpoint_path or --checkpoint (TrainedRunOptions) names in a run."""
  if trained.checkpoint == "best":
    if trained.checkpoint_path:
      raise UserError("--checkpoint=best and --checkpoint_path name two checkpoints; give "
                      "one of them")
    return best_checkpoints.best_checkpoints(output_dir)[0]
  return decoder.find_checkpoint(output_dir, trained.checkpoint_path)


def decode_hparams_of(output_dir, problem, given):
  """--decode_hparams over the search settings saved with the run (decode.json), as the
  problem's decoder declares them (speech adds its language model's)."""
  saved = run_settings.read(output_dir)
  if saved:
    given = ", ".join(f"{k}={v}" for k, v in sorted(saved.items()))
    print(f"decode settings saved with the run ({run_settings.path(output_dir)}): {given}"
          "; --decode_hparams overrides them", file=sys.stderr)
  return problem.decoder_class.DECODE_HPARAMS.from_string(
      given, "--decode_hparams", base=saved)


def note_weights(checkpoint, raw_weights):
  """Says on stderr which weights of the checkpoint a binary uses."""
  if ema.has_averages(checkpoint):
    which = ("raw weights (--raw_weights)" if raw_weights else
             "exponential moving average of the weights (--raw_weights for the raw ones)")
    print(f"using the {which} of {checkpoint}", file=sys.stderr)


def binary_command(name):
  """The command line that runs another installed binary: the one beside the running
  binary as it was invoked (so a folder of wrapper scripts stays in charge of the processes
  they start), else the console script next to this Python, else its module."""
  for folder in (os.path.dirname(os.path.abspath(sys.argv[0])),
                 os.path.dirname(sys.executable)):
    script = os.path.join(folder, name)
    if os.path.isfile(script) and os.access(script, os.X_OK):
      return [script]
  return [sys.executable, "-m", "t2t_lite.bin." + name.replace("-", "_")]
