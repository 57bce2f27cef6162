"""t2t-exporter: writes a SavedModel of a trained run for TensorFlow Serving or any TF program.

  t2t-exporter --output_dir=runs/enxx --decode_hparams="beam_size=4,alpha=0.6"
  saved_model_cli run --dir runs/enxx/export/1000 --tag_set serve \\
      --signature_def serving_default --input_exprs 'inputs=["a green garden"]'

Text models take strings and return strings (tokenization inside the graph); speech models
take WAV bytes (or float waveforms) and return transcripts. The search settings are fixed
at export time. See t2t_lite/serving/export.py for the signatures.
"""
import os

from t2t_lite import options
from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS, TrainedRunOptions
from t2t_lite.errors import UserError
from t2t_lite.options import setting
from t2t_lite.serving import export, small_export


@options.group()
class ExporterOptions(options.Options):
  export_dir: str | None = setting(None, "Where to write the SavedModel (default: "
                                   "OUTPUT_DIR/export/STEP, the numbered layout TensorFlow "
                                   "Serving watches).")
  weights_dtype: str = setting("float32", "Store the SavedModel's weights as float16, "
                               "bfloat16 or int8 (per-channel dynamic-range quantization); "
                               "they are widened to float32 when a signature runs.",
                               choices=small_export.WEIGHT_DTYPES)
  tflite: bool = setting(False, "Speech: also write EXPORT_DIR/tflite/model.tflite (one "
                         "waveform in, CTC greedy ids out; float16 or int8 weights with "
                         "--weights_dtype) and tokens.txt (one piece per id).")


common_flags.define_experiment_flags(dirs=("output_dir",))
common_flags.define_flags(TrainedRunOptions, ExporterOptions)


def main(argv):
  problem, model_cls, hparams, data_dir, checkpoint, dhp = common_flags.trained_run()
  step = checkpoint.rsplit("-", 1)[-1]
  export_dir = os.path.expanduser(FLAGS.export_dir or os.path.join(
      os.path.expanduser(FLAGS.output_dir), "export", step if step.isdigit() else "0"))
  if os.path.exists(export_dir):
    raise UserError(f"{export_dir} already exists; pass another --export_dir or delete it")
  dec = problem.decoder_class.from_checkpoint(problem, model_cls, hparams, data_dir,
                                              checkpoint, dhp)
  module = dec.serving_module()
  if FLAGS.weights_dtype != "float32":
    module = small_export.ReducedPrecisionServing(module, dec.model, FLAGS.weights_dtype)
  tflite = dec.tflite_model(FLAGS.weights_dtype) if FLAGS.tflite else None  # errors first
  export.export(module, export_dir)
  print(f"exported {checkpoint} to {export_dir} ({FLAGS.weights_dtype} weights)")
  if tflite:
    path = os.path.join(export_dir, "tflite")
    os.makedirs(path)
    with open(os.path.join(path, "model.tflite"), "wb") as f:
      f.write(tflite[0])
    with open(os.path.join(path, "tokens.txt"), "w", encoding="utf-8") as f:
      f.writelines(piece + "\n" for piece in tflite[1])
    print(f"wrote {path}/model.tflite ({len(tflite[0])} bytes) and tokens.txt")


def run():
  common_flags.run_main(main, "t2t-exporter")


if __name__ == "__main__":
  run()
