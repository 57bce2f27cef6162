"""Evaluation of a run's model: teacher-forced metric sums over the eval split, and the
problem's decoded metrics (BLEU, with beam search) on its first examples.

The Controller (trainer.py) decides when to evaluate and reports the results; the
Evaluator computes them, under the runner's strategy, on the weights evaluations report
on (their exponential moving average when the run keeps one, unless --raw_weights).
"""
import contextlib
import functools

from t2t_lite import metrics
from t2t_lite.decoding import decoder
from t2t_lite.errors import UserError
from t2t_lite.training import run_input
from t2t_lite.training.run_input import DATA_ERRORS


def _add(totals, sums):
  return sums if totals is None else {k: totals[k] + sums[k] for k in totals}


def check_problem(problem, eval_split):
  """UserError for metric names the problem declares wrongly, or a split it lacks."""
  metrics.check_names(problem.eval_metrics, problem.name)
  decoder.check_decoded_metric_names(problem.decode_metrics, problem.name)
  problem.check_split(eval_split)


class Evaluator:

  def __init__(self, problem, model, hparams, data_dir, options, runner, averages, log,
               input_options):
    """options: TrainerOptions; averages: the run's ExponentialMovingAverage, or None.
    The problem passed check_problem."""
    self.problem, self.model, self.hparams, self.data_dir = problem, model, hparams, data_dir
    self.options, self.runner, self.averages, self.log = options, runner, averages, log
    self.dataset_fn = functools.partial(run_input.dataset_fn, hparams=hparams,
                                        data_dir=data_dir, seed=options.seed,
                                        input_options=input_options)
    self._eval_fn = None
    self._decoders = {}  # evaluation part's label ("": the whole problem) -> decoder
    self._logged_decode_note = False
    self._decode_hparams = decoder.DecodeHParams.from_string(
        options.eval_decode_hparams, "--eval_decode_hparams")

  def evaluate(self):
    """(results, examples): the metrics of the eval split and how many examples they
    cover. A problem with evaluation parts (a mixture's members) also reports each
    part's as part/metric."""
    if self._eval_fn is None:
      detokenize = self.problem.detokenizer(self.data_dir)
      self._eval_fn = self.runner.eval_fn(
          lambda features: self.model.eval_metric_sums(features, detokenize))
    parts = self.problem.evaluation_parts()
    with self._evaluated_weights():
      if parts:
        results, totals = self._evaluate_parts(parts)
      else:
        totals = self._metric_sums(self.problem)
        results = metrics.finalize(totals, self.problem.eval_metrics)
        results.update(self._decoded_metrics(self.problem))
    return results, int(totals["sequences"])

  def _metric_sums(self, problem):
    """The eval metrics' sums over eval_steps batches of `problem`'s eval split."""
    split, eval_steps = self.options.eval_split, self.options.eval_steps
    totals = None
    try:
      batches = self.runner.eval_batches(self.dataset_fn(problem, split=split,
                                                         training=False))
      for i, features in enumerate(batches):
        if eval_steps and i >= eval_steps:
          break
        totals = _add(totals, self._eval_fn(features))
    except DATA_ERRORS as e:
      raise (run_input.data_error(self.problem, self.data_dir, split, e) or e) from None
    if totals is None:
      raise UserError(f"the {split} split of '{problem.name}' in "
                      f"{self.data_dir} is empty; regenerate the data")
    return totals

  def _evaluate_parts(self, parts):
    """(results, pooled sums) of a problem evaluated part by part: part/metric for each,
    and the pooled metrics (teacher-forced over every part's examples; decoded ones, such
    as BLEU, the mean of the parts')."""
    results, pooled, decoded = {}, None, {}
    for label, part in parts:
      sums = self._metric_sums(part)
      pooled = _add(pooled, sums)
      part_results = metrics.finalize(sums, self.problem.eval_metrics)
      for name, value in self._decoded_metrics(part, label).items():
        part_results[name] = value
        decoded.setdefault(name, []).append(value)
      results.update({f"{label}/{name}": value for name, value in part_results.items()})
    overall = metrics.finalize(pooled, self.problem.eval_metrics)
    overall.update({name: sum(values) / len(values) for name, values in decoded.items()})
    return {**overall, **results}, pooled

  def _evaluated_weights(self):
    """A context in which the model holds the weights evaluations report on."""
    if self.averages is None or self.options.raw_weights:
      return contextlib.nullcontext()
    return self.averages.swapped_in()

  def _decoded_metrics(self, problem, label=""):
    """The problem's decode_metrics on the first eval_decode_samples examples of the eval
    split; {} for problems without them."""
    samples = self.options.eval_decode_samples
    if not problem.decode_metrics or not samples:
      return {}
    if label not in self._decoders:
      self._decoders[label] = problem.decoder_class(
          problem, self.model, self.hparams, self.data_dir, self._decode_hparams)
    scores, note = self._decoders[label].decoded_metrics(
        self.options.eval_split, samples, problem.decode_metrics)
    if not self._logged_decode_note:
      self.log(note)
      self._logged_decode_note = True
    return scores
