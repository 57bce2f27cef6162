"""The eval metric that best-checkpoint keeping and early stopping watch (--best_metric).

Its direction comes from where the metric is declared, read through metrics.direction (the
same lookup t2t-sweep ranks trials and steers searches by). A mixture's per-member metrics
are named `member/metric` and take the direction of `metric`.
"""
import dataclasses
import math

from t2t_lite import metrics
from t2t_lite.errors import UserError, suggestion


@dataclasses.dataclass(frozen=True)
class WatchedMetric:
  name: str
  higher_is_better: bool
  min_delta: float = 0.0

  def value(self, results: dict) -> float:
    if self.name not in results:
      raise UserError(f"--best_metric={self.name}: the evaluation reported only "
                      f"{', '.join(sorted(results))}")
    return float(results[self.name])

  def better(self, value: float, than: float) -> bool:
    """Strictly better (a NaN is never better; anything beats a NaN)."""
    if math.isnan(value):
      return False
    if math.isnan(than):
      return True
    return value > than if self.higher_is_better else value < than

  def improves(self, value: float, best: float) -> bool:
    """Better than `best` by more than min_delta."""
    if math.isnan(best):
      return not math.isnan(value)
    shift = self.min_delta if self.higher_is_better else -self.min_delta
    return self.better(value, best + shift)

  def describe(self) -> str:
    return f"{self.name} ({'higher' if self.higher_is_better else 'lower'} is better)"


def direction(name: str) -> bool | None:
  """higher_is_better of a metric name (`member/metric` too); None when unknown."""
  return metrics.direction(name)


def reported_metrics(problem, decodes: bool) -> list[str]:
  """The names an evaluation of `problem` reports (decoded ones when `decodes`)."""
  names = list(problem.eval_metrics) + (list(problem.decode_metrics) if decodes else [])
  for label, _ in problem.evaluation_parts():
    names += [f"{label}/{n}" for n in names if "/" not in n]
  return names


def resolve(name: str, problem, eval_decode_samples: int, min_delta: float = 0.0
            ) -> WatchedMetric:
  """The WatchedMetric of --best_metric=name for a run of `problem`; a name the run does
  not report is a one-line error."""
  reported = reported_metrics(problem, decodes=eval_decode_samples > 0)
  if name not in reported:
    if eval_decode_samples == 0 and name.rsplit("/", 1)[-1] in problem.decode_metrics:
      raise UserError(f"--best_metric={name} is computed on decoded outputs: set "
                      "--eval_decode_samples above 0")
    raise UserError(f"--best_metric={name}: problem '{problem.name}' reports "
                    f"{', '.join(reported)}{suggestion(name, reported)}")
  return WatchedMetric(name, direction(name), min_delta)
