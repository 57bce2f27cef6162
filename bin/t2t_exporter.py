"""t2t-exporter: writes a trained run as a SavedModel (TensorFlow Serving, any TF program) or
as a CTranslate2 model (CPU inference with int8 weights, no TensorFlow).

  t2t-exporter --output_dir=runs/enxx --decode_hparams="beam_size=4,alpha=0.6"
  saved_model_cli run --dir runs/enxx/export/1000 --tag_set serve \\
      --signature_def serving_default --input_exprs 'inputs=["a green garden"]'
  t2t-exporter --output_dir=runs/enxx --export_dtype=bfloat16      # 16-bit weights
  t2t-exporter --output_dir=runs/enxx --export_format=ctranslate2 --quantization=int8

Text models take strings and return strings (tokenization inside the graph); speech models
take WAV bytes (or float waveforms) and return transcripts. The search settings are fixed
at export time (--decode_hparams over the run's saved decode.json). The weights are their
moving average when the run keeps one (--raw_weights: the raw ones), in every format;
--checkpoint=best exports the best checkpoint by the run's --best_metric. See
t2t_lite/serving/export.py for the signatures and t2t_lite/serving/ctranslate2_export.py
for the CTranslate2 folder.
"""
import os

from t2t_lite import options
from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS, TrainedRunOptions
from t2t_lite.errors import UserError
from t2t_lite.options import setting
from t2t_lite.serving import ctranslate2_export, export, exporters, small_export


@options.group("Exporter")
class ExporterOptions(options.Options):
  export_dir: str | None = setting(None, "Where to write the export (default: "
                                   "OUTPUT_DIR/export/STEP, the numbered layout TensorFlow "
                                   "Serving watches; OUTPUT_DIR/export/ctranslate2-STEP for "
                                   "CTranslate2).")
  export_format: str = setting("savedmodel", "'savedmodel' (TensorFlow) or 'ctranslate2' "
                               "(a CTranslate2 Translator, or Generator for a language "
                               "model).", choices=("savedmodel", "ctranslate2"))
  export_dtype: str = setting("float32", "SavedModel weights and computation: float32, or "
                              "bfloat16 / float16 (half the size; layer norms and softmaxes "
                              "still in float32).", choices=export.EXPORT_DTYPES)
  weights_dtype: str = setting("float32", "SavedModel weights stored as float16, bfloat16 "
                               "or int8 (per-channel dynamic-range quantization) and widened "
                               "to float32 when a signature runs: any model, speech "
                               "included.", choices=small_export.WEIGHT_DTYPES)
  tflite: bool = setting(False, "Speech: also write EXPORT_DIR/tflite/model.tflite (one "
                         "waveform in, CTC greedy ids out; float16 or int8 weights with "
                         "--weights_dtype) and tokens.txt (one piece per id).")
  quantization: str = setting("none", "CTranslate2 weights: none (float32), int8, "
                              "int8_float32, int8_float16, int8_bfloat16, int16, float16 or "
                              "bfloat16.", choices=ctranslate2_export.QUANTIZATIONS)
  max_positions: int = setting(1024, "CTranslate2: positions of the exported sinusoid table, "
                               "the longest source and output (in tokens) it translates.",
                               minimum=1)

  def check(self):
    if self.export_format == "savedmodel" and self.quantization != "none":
      raise UserError("--quantization is for --export_format=ctranslate2; a SavedModel "
                      "takes --export_dtype or --weights_dtype")
    if self.export_format == "ctranslate2" and (self.export_dtype != "float32" or
                                                self.weights_dtype != "float32" or
                                                self.tflite):
      raise UserError("--export_dtype, --weights_dtype and --tflite are for SavedModels; a "
                      "CTranslate2 export takes --quantization (e.g. float16, int8)")
    if self.export_dtype != "float32" and self.weights_dtype != "float32":
      raise UserError("give --export_dtype (16-bit weights and computation) or "
                      "--weights_dtype (narrow weights, float32 computation), not both")


common_flags.define_experiment_flags(dirs=("output_dir",))
common_flags.define_flags(TrainedRunOptions, ExporterOptions)


def configuration():
  """(ExperimentOptions, ExporterOptions, TrainedRunOptions) from the flags and gin."""
  names = common_flags.load_registrations_and_gin(ExporterOptions, TrainedRunOptions)
  return names, ExporterOptions.from_config(), TrainedRunOptions.from_config()


def main(argv):
  names, settings, trained = configuration()
  hparams_overrides, output_dir = FLAGS.hparams, FLAGS.output_dir
  settings.check()
  common_flags.require(names, "output_dir")
  output_dir = os.path.expanduser(output_dir)
  problem, model_cls, hparams, data_dir, checkpoint, dhp = common_flags.run_at(
      output_dir, names, trained, hparams_overrides)
  if dhp.return_beams:
    raise UserError("--decode_hparams=return_beams=true is for t2t-decoder's n-best lists; "
                    "an export returns the best output")
  common_flags.note_weights(checkpoint, trained.raw_weights)
  step = checkpoint.rsplit("-", 1)[-1]
  step = step if step.isdigit() else "0"
  default_name = step if settings.export_format == "savedmodel" else f"ctranslate2-{step}"
  export_dir = os.path.expanduser(settings.export_dir or os.path.join(
      output_dir, "export", default_name))
  if os.path.exists(export_dir):
    raise UserError(f"{export_dir} already exists; pass another --export_dir or delete it")
  dec = problem.decoder_class.from_checkpoint(problem, model_cls, hparams, data_dir,
                                              checkpoint, dhp, trained.raw_weights)
  exporter = exporters.exporter_for(dec)
  if settings.export_format == "ctranslate2":
    exporter.export_ctranslate2(export_dir, settings.quantization, settings.max_positions)
    return
  module = exporter.serving_module(settings.export_dtype)
  if settings.weights_dtype != "float32":
    module = small_export.ReducedPrecisionServing(module, dec.model, settings.weights_dtype)
  # Before anything is written, so a refused --tflite leaves no export behind.
  tflite = exporter.tflite_model(settings.weights_dtype) if settings.tflite else None
  export.export(module, export_dir)
  narrow = [d for d in (settings.export_dtype, settings.weights_dtype) if d != "float32"]
  print(f"exported {checkpoint} to {export_dir}" +
        (f" ({narrow[0]} weights)" if narrow else ""))
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
