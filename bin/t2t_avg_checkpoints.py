"""t2t-avg-checkpoints: averages the model weights of a run's last N checkpoints.

  t2t-avg-checkpoints --output_dir=runs/enxx --n=8
  t2t-decoder --output_dir=runs/enxx/averaged --decode_from_file=test.en

The average goes to OUTPUT_DIR/averaged (or --averaged_dir) with the run's run.json and
hparams.json, so the decoder and exporter read it as a run of its own.
"""
from absl import flags

from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS

flags.DEFINE_string("output_dir", None, "The run whose checkpoints to average.")
flags.DEFINE_integer("n", 8, "How many of the newest checkpoints to average.")
flags.DEFINE_string("averaged_dir", None, "Where to write the average "
                    "(default: OUTPUT_DIR/averaged).")


def main(argv):
  import os
  from t2t_lite.errors import UserError
  from t2t_lite.training import averaging
  common_flags.require("output_dir")
  if FLAGS.n < 1:
    raise UserError(f"--n={FLAGS.n} must be >= 1")
  output_dir = os.path.expanduser(FLAGS.output_dir)
  averaged_dir = os.path.expanduser(FLAGS.averaged_dir) if FLAGS.averaged_dir else None
  path = averaging.average_run(output_dir, FLAGS.n, averaged_dir)
  print(f"averaged the last {FLAGS.n} checkpoints of {output_dir} into {path}")


def run():
  common_flags.run_main(main, "t2t-avg-checkpoints")


if __name__ == "__main__":
  run()
