"""t2t-trainer's flags, defined by one function: t2t-trainer defines them for itself, and
t2t-launch into a FlagValues of its own, to check a trainer command line before it writes
the manifests that run it on a cluster. A new t2t-trainer flag belongs here."""
from absl import flags

from t2t_lite import machine
from t2t_lite.bin import common_flags
from t2t_lite.data.manifest import DataCheckOptions
from t2t_lite.experiment import RunOptions
from t2t_lite.sweep import sweep_options  # noqa: F401 - a sweep's gin, passed to its trials, may bind Sweep.*
from t2t_lite.training.trainer import TrainerOptions

# The option groups whose flags are gin bindings (ExperimentOptions is always one).
GIN_GROUPS = (RunOptions, TrainerOptions, machine.ThreadOptions, DataCheckOptions)


def define(flag_values=flags.FLAGS):
  common_flags.define_experiment_flags(flag_values=flag_values)
  common_flags.define_flags(*GIN_GROUPS, flag_values=flag_values)
  if "generate_data" not in flag_values:
    flags.DEFINE_bool("generate_data", False, "Generate the problem's data into --data_dir "
                      "first (kept if it is already there).", flag_values=flag_values)
