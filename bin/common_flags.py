"""Flags shared by the binaries (Tensor2Tensor's names), and the error boundary."""
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


def define_dir_flags():
  flags.DEFINE_string("output_dir", None, "Where checkpoints, summaries and hparams.json live.")
  flags.DEFINE_string("data_dir", None,
                      "Where the problem's TFRecords and vocabulary live "
                      "(default: OUTPUT_DIR/data).")
  flags.DEFINE_string("tmp_dir", None, "Scratch space for raw downloads (default: DATA_DIR/tmp).")


def _flag(name):
  return FLAGS[name].value if name in FLAGS else None


def data_dir():
  if _flag("data_dir"):
    return os.path.expanduser(_flag("data_dir"))
  if _flag("output_dir"):
    return os.path.join(os.path.expanduser(_flag("output_dir")), "data")
  return None


def tmp_dir():
  return _flag("tmp_dir") or (os.path.join(data_dir(), "tmp") if data_dir() else None)


def require(*names):
  from t2t_lite.errors import UserError
  missing = [n for n in names if not _flag(n)]
  if missing:
    raise UserError("missing " + ", ".join(f"--{n}" for n in missing))


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
      print(f"{prog}: error: {e}", file=sys.stderr)
      sys.exit(2)
    except KeyboardInterrupt:
      print(f"{prog}: interrupted", file=sys.stderr)
      sys.exit(130)
  app.run(wrapped)


def binary_command(name):
  """The command line that runs another installed binary (the console script next to this
  Python, else its module)."""
  script = os.path.join(os.path.dirname(sys.executable), name)
  if os.path.exists(script):
    return [script]
  return [sys.executable, "-m", "t2t_lite.bin." + name.replace("-", "_")]
