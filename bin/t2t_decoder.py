"""t2t-decoder: decodes with a trained model, from a file, stdin or the dev set.

  t2t-decoder --output_dir=runs/reverse --decode_from_file=in.txt --decode_to_file=out.txt \\
      --decode_hparams="beam_size=4,alpha=0.6"

--problem, --model and --hparams_set default to those of the run in --output_dir; its
hparams.json supplies the model's hparams. The problem names its decoder (text lines, or
WAV files for speech).
"""
import os
import sys

from t2t_lite import machine, options
from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS, TrainedRunOptions
from t2t_lite.data.manifest import DataCheckOptions
from t2t_lite.errors import UserError
from t2t_lite.options import setting


@options.group()
class DecoderOptions(options.Options):
  """Where t2t-decoder's inputs come from and where its outputs go."""
  decode_from_file: str | None = setting(None, "Decode each line of this file (speech "
                                         "problems: one WAV path per line).")
  decode_to_file: str | None = setting(None, "Write the outputs here, one per input line "
                                       "(default: stdout).")
  decode_interactive: bool = setting(False, "Read inputs from stdin, one per line.")
  decode_split: str = setting("dev", "Without a file or stdin: the split to decode.")
  tune_lm: bool = setting(False, "Speech: decode --decode_split (num_samples of it) with "
                          "every lm_weight and word_bonus of a built-in grid and the "
                          "language model of --decode_hparams=lm_path=..., print WER/CER of "
                          "each and the best settings.")


common_flags.define_experiment_flags(dirs=("output_dir",))
common_flags.define_flags(TrainedRunOptions, DecoderOptions, machine.ThreadOptions,
                          DataCheckOptions)


def main(argv):
  common_flags.configure_threads()  # not logged: stdout is the output, stderr for errors
  problem, model_cls, hparams, data_dir, checkpoint, dhp = common_flags.trained_run()
  out_path = os.path.expanduser(FLAGS.decode_to_file) if FLAGS.decode_to_file else None
  if out_path and not os.path.isdir(os.path.dirname(os.path.abspath(out_path))):
    raise UserError(f"--decode_to_file={FLAGS.decode_to_file}: its folder does not exist")
  problem.check_split(FLAGS.decode_split, "--decode_split")
  if not (FLAGS.decode_from_file or FLAGS.decode_interactive):  # reads the split's data
    problem.check_data(data_dir, [FLAGS.decode_split],
                       verify=DataCheckOptions.from_flags(FLAGS).verify_data,
                       log=lambda line: print(line, file=sys.stderr))
  dec = problem.decoder_class.from_checkpoint(problem, model_cls, hparams, data_dir,
                                              checkpoint, dhp)
  if FLAGS.tune_lm:
    dec.tune_lm(FLAGS.decode_split)
  elif FLAGS.decode_from_file:
    dec.decode_from_file(os.path.expanduser(FLAGS.decode_from_file), out_path)
  elif FLAGS.decode_interactive:
    dec.interactive(sys.stdin, sys.stdout)
  else:
    dec.decode_dataset(FLAGS.decode_split)


def run():
  common_flags.run_main(main, "t2t-decoder")


if __name__ == "__main__":
  run()
