"""t2t-exporter: writes a SavedModel of a trained run for TensorFlow Serving or any TF program.

  t2t-exporter --output_dir=runs/enxx --decode_hparams="beam_size=4,alpha=0.6"
  saved_model_cli run --dir runs/enxx/export/1000 --tag_set serve \\
      --signature_def serving_default --input_exprs 'inputs=["a green garden"]'

Text models take strings and return strings (tokenization inside the graph); speech models
take WAV bytes (or float waveforms) and return transcripts. The search settings are fixed
at export time (--decode_hparams over the run's saved decode.json). The weights are their
moving average when the run keeps one (--raw_weights: the raw ones); --checkpoint=best
exports the best checkpoint by the run's --best_metric. See t2t_lite/serving/export.py for
the signatures.
"""
import os

from t2t_lite import options
from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS, TrainedRunOptions
from t2t_lite.errors import UserError
from t2t_lite.options import setting
from t2t_lite.serving import export


@options.group()
class ExporterOptions(options.Options):
  export_dir: str | None = setting(None, "Where to write the SavedModel (default: "
                                   "OUTPUT_DIR/export/STEP, the numbered layout TensorFlow "
                                   "Serving watches).")


common_flags.define_experiment_flags(dirs=("output_dir",))
common_flags.define_flags(TrainedRunOptions, ExporterOptions)


def main(argv):
  problem, model_cls, hparams, data_dir, checkpoint, dhp = common_flags.trained_run()
  if dhp.return_beams:
    raise UserError("--decode_hparams=return_beams=true is for t2t-decoder's n-best lists; "
                    "an export returns the best output")
  common_flags.note_weights(checkpoint)
  step = checkpoint.rsplit("-", 1)[-1]
  export_dir = os.path.expanduser(FLAGS.export_dir or os.path.join(
      os.path.expanduser(FLAGS.output_dir), "export", step if step.isdigit() else "0"))
  if os.path.exists(export_dir):
    raise UserError(f"{export_dir} already exists; pass another --export_dir or delete it")
  dec = problem.decoder_class.from_checkpoint(problem, model_cls, hparams, data_dir,
                                              checkpoint, dhp, FLAGS.raw_weights)
  export.export(dec.serving_module(), export_dir)
  print(f"exported {checkpoint} to {export_dir}")


def run():
  common_flags.run_main(main, "t2t-exporter")


if __name__ == "__main__":
  run()
