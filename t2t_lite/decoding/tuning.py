"""t2t-decoder --tune_decode_hparams: the search settings that fit the data, chosen on the
dev split against the problem's decode metric (e.g. BLEU).

Beam search's length normalization decides how long outputs are: Tensor2Tensor's default
alpha=0.6 can make a model's outputs much shorter than the references on short segments,
and BLEU's brevity penalty then costs points that no training recovers. The tuner decodes
the same dev examples with every combination of length penalty, beam size and alpha,
scores each, and prints one row per combination with the outputs' length relative to the
references, so the effect of each choice is visible; the best one can be saved with the
run (run_settings.py) for later decodes and exports.
"""
import dataclasses
import itertools

from t2t_lite.errors import UserError


@dataclasses.dataclass(frozen=True)
class Trial:
  length_penalty: str
  beam_size: int
  alpha: float
  score: float
  length_ratio: float  # output words / reference words


def parse_grid(text, type_, flag):
  """'0.2,0.6,1.0' -> [0.2, 0.6, 1.0] (each a type_), or a one-line error naming flag."""
  try:
    values = [type_(x.strip()) for x in text.split(",") if x.strip()]
  except ValueError:
    raise UserError(f"{flag}={text}: expected comma-separated {type_.__name__} values") \
        from None
  if not values:
    raise UserError(f"{flag} is empty")
  return values


def length_ratio(hypotheses, references):
  words = sum(len(h.split()) for h in hypotheses)
  return words / max(sum(len(r.split()) for r in references), 1)


def tune(decoder_for, split, num_samples, metric, length_penalties, beam_sizes, alphas,
         log=print):
  """Decodes the first num_samples examples of `split` with every combination; returns
  the Trials (in grid order) and the best one. decoder_for(length_penalty, beam_size,
  alpha) -> a TextDecoder; metric: a decoder.DecodedMetric."""
  trials, tried = [], set()
  for penalty, beam_size, alpha in itertools.product(length_penalties, beam_sizes, alphas):
    # Greedy search ignores the length penalty, and no penalty ignores alpha: decode
    # each distinct search once.
    key = (beam_size, penalty if beam_size > 1 else "",
           alpha if beam_size > 1 and penalty != "none" else None)
    if key in tried:
      continue
    tried.add(key)
    dec = decoder_for(penalty, beam_size, alpha)
    _, targets, outputs = dec.decode_split(split, num_samples)
    if not targets:
      raise UserError(f"the {split} split is empty; nothing to tune on")
    text = dec.encoders["targets"].decode
    hypotheses, references = [text(o) for o in outputs], [text(t) for t in targets]
    score, _ = metric.compute(hypotheses, references)
    trial = Trial(penalty, beam_size, alpha, score, length_ratio(hypotheses, references))
    trials.append(trial)
    log(format_row(trial))
  better = (lambda t: t.score) if metric.higher_is_better else (lambda t: -t.score)
  return trials, max(trials, key=better)


def header(metric_name):
  return f"{'length_penalty':15s} {'beam_size':>9s} {'alpha':>6s} {metric_name:>9s} " \
         f"{'length':>7s}"


def format_row(trial):
  return (f"{trial.length_penalty:15s} {trial.beam_size:9d} {trial.alpha:6.2f} "
          f"{trial.score:9.2f} {trial.length_ratio:7.3f}")
