"""t2t-datagen: writes a problem's vocabulary and sharded TFRecords into --data_dir.

  t2t-datagen --problem=algorithmic_reverse_decimal40 --data_dir=~/t2t_data
"""
from t2t_lite import registry
from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import DirOptions, RegistryOptions
from t2t_lite.experiment import ExperimentOptions

common_flags.define_flags(ExperimentOptions, only=("problem", "data_dir", "problem_settings",
                                                   "tfds_data_dir"))
common_flags.define_flags(RegistryOptions, only=("t2t_usr_dir", "registry_help"))
common_flags.define_flags(DirOptions, only=("tmp_dir",))
common_flags.define_gin_flags()


def main(argv):
  names = common_flags.load_registrations_and_gin()
  common_flags.require(names, "problem", "data_dir")
  problem = registry.problem(names.problem)
  data_dir = common_flags.data_dir(names)
  common_flags.configure_problem(problem, data_dir, names)
  problem.generate_data(data_dir, common_flags.tmp_dir(names))


def run():
  common_flags.run_main(main, "t2t-datagen")


if __name__ == "__main__":
  run()
