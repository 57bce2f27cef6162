"""t2t-exporter: writes a SavedModel of a trained run for TensorFlow Serving or any TF program.

  t2t-exporter --output_dir=runs/enxx --decode_hparams="beam_size=4,alpha=0.6"
  saved_model_cli run --dir runs/enxx/export/1000 --tag_set serve \\
      --signature_def serving_default --input_exprs 'inputs=["a green garden"]'

Text models take strings and return strings (tokenization inside the graph); speech models
take WAV bytes (or float waveforms) and return transcripts. The search settings are fixed
at export time. See t2t_lite/serving/export.py for the signatures.
"""
import os

from absl import flags

from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS

common_flags.define_registry_flags()
common_flags.define_dir_flags()
common_flags.define_problem_flags()
flags.DEFINE_string("checkpoint_path", None, "The checkpoint to export (default: the latest).")
flags.DEFINE_string("export_dir", None,
                    "Where to write the SavedModel (default: OUTPUT_DIR/export/STEP, the "
                    "numbered layout TensorFlow Serving watches).")
flags.DEFINE_string("decode_hparams", "", "Search settings baked into the export: beam_size, "
                    "alpha, extra_length, use_cache (as t2t-decoder's).")


def main(argv):
  from t2t_lite.decoding import decoder
  from t2t_lite.errors import UserError
  from t2t_lite.serving import export
  problem, model_cls, hparams, data_dir, checkpoint, dhp = \
      common_flags.trained_run_and_search()
  step = checkpoint.rsplit("-", 1)[-1]
  export_dir = os.path.expanduser(FLAGS.export_dir or os.path.join(
      os.path.expanduser(FLAGS.output_dir), "export", step if step.isdigit() else "0"))
  if os.path.exists(export_dir):
    raise UserError(f"{export_dir} already exists; pass another --export_dir or delete it")
  if getattr(problem, "decoder_class", None) is not None:  # speech: audio in, text out
    model_cls.validate_hparams(hparams)
    problem.check_hparams(hparams)
    model = decoder.restored_model(model_cls, hparams, checkpoint)
    module = export.SpeechServing(model, problem, hparams, data_dir, dhp)
  else:
    model, encoders = decoder.load_model(problem, model_cls, hparams, data_dir, checkpoint)
    module = export.TextServing(model, problem, encoders, dhp)
  export.export(module, export_dir)
  print(f"exported {checkpoint} to {export_dir}")


def run():
  common_flags.run_main(main, "t2t-exporter")


if __name__ == "__main__":
  run()
