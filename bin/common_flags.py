"""Flags shared by the binaries (Tensor2Tensor's names), and the error boundary.

Underneath, gin is the one configuration: parse_gin() applies --gin_file, --gin_param and
then every mapped flag given on the command line as a gin binding (t2t_lite/gin_config.py).
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

FLAGS = flags.FLAGS


def define_registry_flags():
  flags.DEFINE_string("problem", None, "Registered problem name, e.g. algorithmic_reverse_decimal40.")
  flags.DEFINE_string("model", None, "Registered model name, e.g. transformer.")
  flags.DEFINE_string("hparams_set", None, "Registered hparams set, e.g. transformer_tiny.")
  flags.DEFINE_string("hparams", "", "Overrides: 'name=value,name=value'.")
  flags.DEFINE_string("t2t_usr_dir", None,
                      "A directory (Python package) of your own registered problems, "
                      "models and hparams sets, imported before anything is looked up.")
  flags.DEFINE_bool("registry_help", False, "List every registered name and exit.")
  define_gin_flags()


def define_gin_flags():
  flags.DEFINE_multi_string("gin_file", [], "A gin config file (repeatable; later files win), "
                            "e.g. a run's own OUTPUT_DIR/config.gin.")
  flags.DEFINE_multi_string("gin_param", [], "A gin binding, e.g. "
                            "\"hparams.learning_rate_constant = 0.5\" (repeatable; applied "
                            "after --gin_file; flags given on the command line win over both).")


# Flags that are gin bindings underneath; given on the command line they override gin.
NAME_BINDINGS = {"problem": "experiment.problem", "model": "experiment.model",
                 "hparams_set": "experiment.hparams_set", "data_dir": "experiment.data_dir",
                 "problem_settings": "experiment.problem_settings",
                 "tfds_data_dir": "experiment.tfds_data_dir"}


def parse_gin(extra_bindings=None):
  """Applies --gin_file, --gin_param, then the given mapped flags; returns experiment.names()."""
  from t2t_lite import experiment, gin_config
  gin_config.parse(_flag("gin_file") or (), _flag("gin_param") or (),
                   gin_config.flag_bindings(FLAGS, dict(NAME_BINDINGS, **(extra_bindings or {}))))
  return experiment.names()


def define_dir_flags():
  flags.DEFINE_string("output_dir", None, "Where checkpoints, summaries and hparams.json live.")
  flags.DEFINE_string("data_dir", None,
                      "Where the problem's TFRecords and vocabulary live "
                      "(default: OUTPUT_DIR/data).")
  flags.DEFINE_string("tmp_dir", None, "Scratch space for raw downloads (default: DATA_DIR/tmp).")


def _flag(name):
  return FLAGS[name].value if name in FLAGS else None


def data_dir():
  from t2t_lite import experiment
  configured = experiment.names().data_dir  # --data_dir or experiment.data_dir
  if configured:
    return os.path.expanduser(configured)
  if _flag("output_dir"):
    return os.path.join(os.path.expanduser(_flag("output_dir")), "data")
  return None


def tmp_dir():
  return _flag("tmp_dir") or (os.path.join(data_dir(), "tmp") if data_dir() else None)


def require(*names):
  """Flags that must have a value; registry names may come from gin (experiment.*) too."""
  from t2t_lite import experiment
  from t2t_lite.errors import UserError
  configured = vars(experiment.names())
  missing = [n for n in names if not (_flag(n) or configured.get(n))]
  if missing:
    raise UserError("missing " + ", ".join(
        f"--{n}" + (f" (or {NAME_BINDINGS[n]} in gin)" if n in NAME_BINDINGS else "")
        for n in missing))


def print_registry_and_exit():
  from t2t_lite import registry
  print(registry.help_string())
  sys.exit(0)


def run_main(main, prog):
  """absl's app.run, with UserError shown as one line and exit status 2."""
  from absl import app

  def wrapped(argv):
    from absl import logging
    from t2t_lite.errors import UserError
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
  app.run(wrapped)


def define_problem_flags():
  flags.DEFINE_string("problem_settings", "",
                      "Settings of a problem that needs no code: 'name=value,...' (paths, "
                      "vocabulary type and size). Given to t2t-datagen, saved in --data_dir "
                      "and read from there by the other binaries.")
  flags.DEFINE_string("tfds_data_dir", None,
                      "Where TFDS-backed problems keep their tensorflow_datasets data "
                      "(default: TFDS's own, ~/tensorflow_datasets).")


def configure_problem(problem, data_dir):
  """Applies --problem_settings and --tfds_data_dir (or experiment.problem_settings /
  experiment.tfds_data_dir in gin) to `problem`, over the settings saved in data_dir."""
  from t2t_lite import experiment
  from t2t_lite.errors import UserError
  configured = experiment.names()  # the flags, or their gin bindings
  overrides = configured.problem_settings or ""
  if configured.tfds_data_dir:
    if "tfds_data_dir" not in problem.default_settings():
      raise UserError(f"--tfds_data_dir: problem {problem.name} does not read TFDS data")
    path = os.path.abspath(os.path.expanduser(configured.tfds_data_dir))
    overrides = ",".join(x for x in (overrides, f"tfds_data_dir={path}") if x)
  return problem.configure(overrides, data_dir)


def trained_run(names):
  """(problem, model class, hparams, data_dir, checkpoint) of the run in --output_dir:
  names and hparams from its run.json and hparams.json (flags may override them), the
  latest checkpoint or --checkpoint_path, and the data_dir it was trained from."""
  from t2t_lite import experiment, registry
  from t2t_lite.decoding import decoder
  from t2t_lite.errors import UserError
  from t2t_lite.training import run_dir
  output_dir = os.path.expanduser(FLAGS.output_dir)
  run = run_dir.read_run(output_dir) or {}
  problem_name = names.problem or run.get("problem")
  model_name = names.model or run.get("model")
  if not problem_name or not model_name:
    raise UserError(f"{output_dir} holds no run.json; pass --problem and --model")
  problem = registry.problem(problem_name)
  model_cls = registry.model(model_name)
  if names.hparams_set:
    registry.hparams(names.hparams_set)  # a mistyped name is still an error
  hparams = experiment.apply_overrides(run_dir.read_hparams(output_dir), FLAGS.hparams)
  checkpoint = decoder.find_checkpoint(output_dir, _flag("checkpoint_path"))
  # The vocabulary lives where the run was trained from, unless --data_dir says otherwise.
  data = (os.path.expanduser(names.data_dir) if names.data_dir
          else run.get("data_dir") or data_dir())
  configure_problem(problem, data)
  return problem, model_cls, hparams, data, checkpoint


def trained_run_and_search():
  """The common start of the binaries that use a trained run (decoder, exporter):
  registrations, gin, the run of --output_dir and the parsed --decode_hparams.
  Returns (problem, model class, hparams, data_dir, checkpoint, decode hparams)."""
  from t2t_lite import experiment
  from t2t_lite.decoding import decoder
  experiment.load_registrations(_flag("t2t_usr_dir"))
  if _flag("registry_help"):
    print_registry_and_exit()
  names = parse_gin()
  require("output_dir")
  dhp = decoder.decode_hparams(_flag("decode_hparams"))
  return (*trained_run(names), dhp)


def binary_command(name):
  """The command line that runs another installed binary (the console script next to this
  Python, else its module)."""
  script = os.path.join(os.path.dirname(sys.executable), name)
  if os.path.exists(script):
    return [script]
  return [sys.executable, "-m", "t2t_lite.bin." + name.replace("-", "_")]
