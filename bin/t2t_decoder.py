"""t2t-decoder: decodes with a trained model, from a file, stdin or the dev set.

  t2t-decoder --output_dir=runs/reverse --decode_from_file=in.txt --decode_to_file=out.txt \\
      --decode_hparams="beam_size=4,alpha=0.6"
  t2t-decoder --ensemble=runs/a,runs/b --decode_from_file=in.txt        # as one model
  t2t-decoder --output_dir=runs/a --decode_from_file=in.txt \\
      --decode_hparams=return_beams=true                                  # n-best lists
  t2t-decoder --output_dir=runs/a --score_file=pairs.tsv                  # log-probabilities
  t2t-decoder --output_dir=runs/a --tune_decode_hparams --save_decode_hparams

--problem, --model and --hparams_set default to those of the run in --output_dir; its
hparams.json supplies the model's hparams, its decode.json (if saved) the search settings
under --decode_hparams. The problem names its decoder (text lines, or WAV files for
speech).
"""
import os
import sys
import typing

from t2t_lite import machine, options
from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS, TrainedRunOptions
from t2t_lite.data.manifest import DataCheckOptions
from t2t_lite.decoding import decoder, ensemble, run_settings, tuning
from t2t_lite.errors import UserError
from t2t_lite.options import setting


@options.group("Decoder")
class DecoderOptions(options.Options):
  """Where t2t-decoder's inputs come from and where its outputs go."""
  decode_from_file: str | None = setting(None, "Decode each line of this file (speech "
                                         "problems: one WAV path per line).")
  decode_to_file: str | None = setting(None, "Write the outputs here, one per input line "
                                       "(default: stdout).")
  decode_interactive: bool = setting(False, "Read inputs from stdin, one per line.")
  decode_split: str = setting("dev", "Without a file or stdin: the split to decode (and "
                              "the one --tune_decode_hparams tunes on).")
  ensemble: str = setting("", "Decode with several runs as one model: comma-separated "
                          "output_dirs (sharing their vocabularies, any architectures), "
                          "whose log-probabilities are averaged at every search step.")
  score_file: str | None = setting(None, "Instead of searching, write the model's "
                                   "log-probability of each 'source<TAB>target' line (a "
                                   "language model: of each line): total, mean per token, "
                                   "and each token's.")
  tune_decode_hparams: bool = setting(False, "Grid-search the search settings on "
                                      "--decode_split against the problem's decode metric "
                                      "(e.g. BLEU) and print the table.")
  tune_alphas: str = setting("0.0,0.2,0.4,0.6,0.8,1.0,1.2,1.5", "The alphas "
                             "--tune_decode_hparams tries.")
  tune_beam_sizes: str = setting("", "The beam sizes it tries (default: the decode "
                                 "beam_size).")
  tune_length_penalties: str = setting("", "The length penalties it tries, of gnmt, "
                                       "length, none (default: the decode "
                                       "length_penalty).")
  save_decode_hparams: bool = setting(False, "Save the search settings (the best ones "
                                      "found by --tune_decode_hparams, else those of "
                                      "--decode_hparams) as OUTPUT_DIR/decode.json: later "
                                      "decodes and exports of the run use them.")
  tune_lm: bool = setting(False, "Speech: decode --decode_split (num_samples of it) with "
                          "every lm_weight and word_bonus of a built-in grid and the "
                          "language model of --decode_hparams=lm_path=..., print WER/CER of "
                          "each and the best settings.")


common_flags.define_experiment_flags(dirs=("output_dir",))
common_flags.define_flags(TrainedRunOptions, DecoderOptions, machine.ThreadOptions,
                          DataCheckOptions)


def _decoder(names, output_dir, config):
  """The decoder of --output_dir, or of the --ensemble runs."""
  trained = config.trained
  if not config.decoding.ensemble:
    problem, model_cls, hparams, data_dir, checkpoint, dhp = common_flags.run_at(
        output_dir, names, trained, config.hparams)
    common_flags.note_weights(checkpoint, trained.raw_weights)
    return problem.decoder_class.from_checkpoint(problem, model_cls, hparams, data_dir,
                                                 checkpoint, dhp, trained.raw_weights)
  runs = [os.path.expanduser(r.strip()) for r in config.decoding.ensemble.split(",")
          if r.strip()]
  models, first = [], None
  for run in runs:
    problem, model_cls, hparams, data_dir, checkpoint, dhp = common_flags.run_at(
        run, names, trained, config.hparams, own_names=True)
    if not issubclass(problem.decoder_class, decoder.TextDecoder):
      raise UserError(f"--ensemble decodes token models; {run} is a run of problem "
                      f"'{problem.name}', decoded by {problem.decoder_class.__name__}")
    problem.decoder_class.check_vocabulary(problem, hparams, data_dir)
    encoders = problem.feature_encoders(data_dir)
    if first is None:
      first = (problem, hparams, data_dir, dhp, encoders)
    else:
      for feature in ("inputs", "targets"):
        if (ensemble.vocabulary_fingerprint(encoders[feature]) !=
            ensemble.vocabulary_fingerprint(first[4][feature])):
          raise UserError(f"--ensemble: the {feature} vocabulary of {run} differs from "
                          f"that of {runs[0]}; ensemble members must share it")
    common_flags.note_weights(checkpoint, trained.raw_weights)
    models.append(decoder.restored_model(model_cls, hparams, checkpoint, problem.has_inputs,
                                         trained.raw_weights))
  problem, hparams, data_dir, dhp, _ = first
  combined = ensemble.Ensemble(models, names=runs)
  print(f"decoding with an ensemble of {len(models)} runs: {', '.join(runs)}",
        file=sys.stderr)
  return problem.decoder_class(problem, combined, hparams, data_dir, dhp)


def _tune(dec, settings):
  problem, dhp = dec.problem, dec.dhp
  if not problem.decode_metrics:
    raise UserError(f"--tune_decode_hparams: problem '{problem.name}' has no decode metric "
                    "(e.g. bleu) to tune against")
  metric_name = problem.decode_metrics[0]
  metric = decoder.DECODED_METRICS[metric_name]
  penalties = tuning.parse_grid(settings.tune_length_penalties or dhp.length_penalty, str,
                                "--tune_length_penalties")
  beams = tuning.parse_grid(settings.tune_beam_sizes or str(dhp.beam_size), int,
                            "--tune_beam_sizes")
  alphas = tuning.parse_grid(settings.tune_alphas, float, "--tune_alphas")
  for value in penalties + beams + alphas:  # a value out of range fails before decoding
    name = {str: "length_penalty", int: "beam_size", float: "alpha"}[type(value)]
    dhp.replace(**{name: value})

  def decoder_for(penalty, beam_size, alpha):
    tried = dhp.replace(length_penalty=penalty, beam_size=beam_size, alpha=alpha,
                        return_beams=False)
    return type(dec)(problem, dec.model, dec.hparams, dec.data_dir, tried)

  samples = "all" if dhp.num_samples < 0 else f"the first {dhp.num_samples}"
  print(f"tuning on {samples} {settings.decode_split} examples against {metric_name} "
        f"({metric.implementation}); length = output words / reference words")
  print(tuning.header(metric_name), flush=True)
  _, best = tuning.tune(decoder_for, settings.decode_split, dhp.num_samples, metric, penalties,
                        beams, alphas, log=lambda line: print(line, flush=True))
  print(f"best: length_penalty={best.length_penalty},beam_size={best.beam_size},"
        f"alpha={best.alpha:g} ({metric_name} {best.score:.2f}, length {best.length_ratio:.3f})")
  return dhp.replace(length_penalty=best.length_penalty, beam_size=best.beam_size,
                     alpha=best.alpha)


class Config(typing.NamedTuple):
  """t2t-decoder's run configuration, built once from the flags in main."""
  decoding: DecoderOptions
  trained: TrainedRunOptions
  data_check: DataCheckOptions
  hparams: str  # --hparams: changes of the eval-time hparams
  output_dir: str | None


# The option groups whose flags are gin bindings (Decoder.*, TrainedRun.*, ...).
GIN_GROUPS = (DecoderOptions, TrainedRunOptions, DataCheckOptions, machine.ThreadOptions)


def configuration():
  """(ExperimentOptions, Config) from the flags and gin."""
  names = common_flags.load_registrations_and_gin(*GIN_GROUPS)
  return names, Config(DecoderOptions.from_config(), TrainedRunOptions.from_config(),
                       DataCheckOptions.from_config(), FLAGS.hparams,
                       os.path.expanduser(FLAGS.output_dir) if FLAGS.output_dir else None)


def main(argv):
  names, config = configuration()
  common_flags.configure_threads()  # not logged: stdout is the output, stderr for errors
  if config.decoding.ensemble and config.output_dir:
    raise UserError("--ensemble names the runs to decode with; drop --output_dir")
  if not config.decoding.ensemble:
    common_flags.require(names, "output_dir")
  elif config.decoding.save_decode_hparams:
    raise UserError("--save_decode_hparams saves into one run's output_dir; tune or save "
                    "with --output_dir instead of --ensemble")
  elif config.trained.checkpoint_path:
    raise UserError("--checkpoint_path names one run's checkpoint; the runs of --ensemble "
                    "are read at --checkpoint (latest or best)")
  decode(names, config)


def decode(names, config):
  settings, output_dir = config.decoding, config.output_dir
  if settings.tune_lm and settings.tune_decode_hparams:
    raise UserError("--tune_lm tunes a speech language model's weights, "
                    "--tune_decode_hparams the search of a token model; give one of them")
  out_path = os.path.expanduser(settings.decode_to_file) if settings.decode_to_file else None
  if out_path and not os.path.isdir(os.path.dirname(os.path.abspath(out_path))):
    raise UserError(f"--decode_to_file={settings.decode_to_file}: its folder does not exist")
  dec = _decoder(names, output_dir, config)
  dec.problem.check_split(settings.decode_split, "--decode_split")
  reads_split = settings.tune_decode_hparams or settings.tune_lm or not (
      settings.decode_from_file or settings.decode_interactive or settings.score_file or
      settings.save_decode_hparams)
  if reads_split:
    dec.problem.check_data(dec.data_dir, [settings.decode_split],
                           verify=config.data_check.verify_data,
                           log=lambda line: print(line, file=sys.stderr))
  if dec.dhp.return_beams and not isinstance(dec, decoder.TextDecoder):
    raise UserError(f"--decode_hparams=return_beams=true: problem '{dec.problem.name}' "
                    f"decodes with {type(dec).__name__}, which writes no n-best lists")
  if settings.tune_decode_hparams:
    chosen = _tune(dec, settings)
  else:
    chosen = dec.dhp
  if settings.save_decode_hparams:
    print(f"saved {run_settings.save(output_dir, chosen)}: later decodes and exports of "
          f"{output_dir} search with these settings")
  if settings.tune_decode_hparams:
    return
  if settings.tune_lm:
    dec.tune_lm(settings.decode_split)
  elif settings.score_file:
    dec.score_file(os.path.expanduser(settings.score_file), out_path)
  elif settings.decode_from_file:
    dec.decode_from_file(os.path.expanduser(settings.decode_from_file), out_path)
  elif settings.decode_interactive:
    dec.interactive(sys.stdin, sys.stdout)
  elif not settings.save_decode_hparams:
    dec.decode_dataset(settings.decode_split)


def run():
  common_flags.run_main(main, "t2t-decoder")


if __name__ == "__main__":
  run()
