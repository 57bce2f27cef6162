"""t2t-decoder: decodes with a trained model, from a file, stdin or the dev set.

  t2t-decoder --output_dir=runs/reverse --decode_from_file=in.txt --decode_to_file=out.txt \\
      --decode_hparams="beam_size=4,alpha=0.6"

--problem, --model and --hparams_set default to those of the run in --output_dir; its
hparams.json supplies the model's hparams.
"""
import os
import sys

from absl import flags

from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS

common_flags.define_registry_flags()
common_flags.define_dir_flags()
common_flags.define_problem_flags()
flags.DEFINE_string("decode_hparams", "", "Search settings: beam_size, alpha, extra_length, "
                    "batch_size, num_samples, use_cache, sampling_method, sampling_temp, "
                    "sampling_keep_top_k, sampling_seed, e.g. 'beam_size=4,alpha=0.6'.")
flags.DEFINE_string("decode_from_file", None, "Decode each line of this file (speech "
                    "problems: one WAV path per line).")
flags.DEFINE_string("decode_to_file", None, "Write the outputs here, one per input line "
                    "(default: stdout).")
flags.DEFINE_bool("decode_interactive", False, "Read inputs from stdin, one per line.")
flags.DEFINE_string("checkpoint_path", None, "A checkpoint to use (default: the latest).")
flags.DEFINE_string("decode_split", "dev", "Without a file or stdin: the split to decode.")


def main(argv):
  from t2t_lite.decoding import decoder
  from t2t_lite.errors import UserError
  problem, model_cls, hparams, data_dir, checkpoint, dhp = \
      common_flags.trained_run_and_search()
  out_path = os.path.expanduser(FLAGS.decode_to_file) if FLAGS.decode_to_file else None
  if out_path and not os.path.isdir(os.path.dirname(os.path.abspath(out_path))):
    raise UserError(f"--decode_to_file={FLAGS.decode_to_file}: its folder does not exist")
  problem.check_split(FLAGS.decode_split, "--decode_split")
  # Problems with other inputs than text (speech) name their own decoder.
  decoder_class = getattr(problem, "decoder_class", None) or decoder.Decoder
  dec = decoder_class.from_checkpoint(problem, model_cls, hparams, data_dir, checkpoint, dhp)
  if FLAGS.decode_from_file:
    dec.decode_from_file(os.path.expanduser(FLAGS.decode_from_file), out_path)
  elif FLAGS.decode_interactive:
    dec.interactive(sys.stdin, sys.stdout)
  else:
    dec.decode_dataset(FLAGS.decode_split)


def run():
  common_flags.run_main(main, "t2t-decoder")


if __name__ == "__main__":
  run()
