"""t2t-avg-checkpoints: averages the model weights of a run's last N checkpoints.

  t2t-avg-checkpoints --output_dir=runs/enxx --n=8
  t2t-decoder --output_dir=runs/enxx/averaged --decode_from_file=test.en

The average goes to OUTPUT_DIR/averaged (or --averaged_dir) with the run's run.json and
hparams.json, so the decoder and exporter read it as a run of its own. --checkpoint=best
averages the n best checkpoints by the run's --best_metric instead (OUTPUT_DIR/best/,
into OUTPUT_DIR/averaged_best).
"""
import os

from t2t_lite.bin import common_flags
from t2t_lite.errors import UserError
from t2t_lite.training import averaging
from t2t_lite.training.averaging import AveragingOptions

common_flags.define_flags(AveragingOptions)
common_flags.define_gin_flags()


def configuration():
  """AveragingOptions from the flags and gin (Averaging.*)."""
  common_flags.parse_gin(AveragingOptions)
  return AveragingOptions.from_config()


def main(argv):
  settings = configuration()
  if not settings.output_dir:
    raise UserError("missing --output_dir")
  output_dir = os.path.expanduser(settings.output_dir)
  averaged_dir = os.path.expanduser(settings.averaged_dir) if settings.averaged_dir else None
  path = averaging.average_run(output_dir, settings.n, averaged_dir, settings.checkpoint)
  which = "best" if settings.checkpoint == "best" else "last"
  print(f"averaged the {which} {settings.n} checkpoints of {output_dir} into {path}")


def run():
  common_flags.run_main(main, "t2t-avg-checkpoints")


if __name__ == "__main__":
  run()
