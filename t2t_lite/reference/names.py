"""The registered names: problems, models, hparams sets, ranged hparams, optimizers,
learning-rate schedule factors, and the metrics problems may report."""
import inspect

from t2t_lite import metrics, registry
from t2t_lite.decoding import decoder

REGISTRIES = (("Problems", registry.problems), ("Models", registry.models),
              ("Hparams sets", registry.hparams_sets),
              ("Ranged hparams sets (t2t-sweep's sources)", registry.ranged_hparams),
              ("Optimizers", registry.optimizers),
              ("Learning-rate schedule factors", registry.learning_rate_schedules))


def summary(obj) -> str:
  """The first paragraph of a registered object's docstring."""
  doc = inspect.getdoc(obj) or ""
  return " ".join(doc.split("\n\n")[0].split())


def registered(only=None) -> list[tuple[str, list[tuple[str, str]]]]:
  """[(title, [(name, summary)])] per registry; `only`: {title: names} to keep."""
  out = []
  for title, reg in REGISTRIES:
    names = [n for n in reg.names() if only is None or n in only.get(title, ())]
    out.append((title, [(n, summary(reg.get(n))) for n in names]))
  return out


def snapshot() -> dict[str, set]:
  """{title: names} registered now (to tell a user directory's own from the built-ins)."""
  return {title: set(reg.names()) for title, reg in REGISTRIES}


def metric_names() -> list[tuple[str, str, str]]:
  """[(name, kind, better)] of the eval metrics and the metrics of decoded text."""
  out = [(n, "teacher-forced (eval_metrics)", "higher" if m.higher_is_better else "lower")
         for n, m in sorted(metrics.METRICS.items())]
  out += [(n, f"decoded text, {m.implementation} (decode_metrics)",
           "higher" if m.higher_is_better else "lower")
          for n, m in sorted(decoder.DECODED_METRICS.items())]
  return out
