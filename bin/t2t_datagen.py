"""t2t-datagen: writes a problem's vocabulary and sharded TFRecords into --data_dir.

  t2t-datagen --problem=algorithmic_reverse_decimal40 --data_dir=~/t2t_data
"""
from absl import flags

from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS

flags.DEFINE_string("problem", None, "Registered problem to generate.")
flags.DEFINE_string("data_dir", None, "Where to write the TFRecords and vocabulary.")
flags.DEFINE_string("tmp_dir", None, "Scratch space for raw downloads (default: DATA_DIR/tmp).")
flags.DEFINE_string("t2t_usr_dir", None, "Directory of your own registered problems.")
flags.DEFINE_bool("registry_help", False, "List every registered name and exit.")
common_flags.define_problem_flags()
common_flags.define_gin_flags()


def main(argv):
  from t2t_lite import experiment, registry
  experiment.load_registrations(FLAGS.t2t_usr_dir)
  if FLAGS.registry_help:
    common_flags.print_registry_and_exit()
  names = common_flags.parse_gin()
  common_flags.require("problem", "data_dir")
  problem = registry.problem(names.problem)
  data_dir = common_flags.data_dir()
  common_flags.configure_problem(problem, data_dir)
  problem.generate_data(data_dir, common_flags.tmp_dir())


def run():
  common_flags.run_main(main, "t2t-datagen")


if __name__ == "__main__":
  run()
