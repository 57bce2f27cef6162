"""A [search]'s report, from its study and its trials' eval summaries.

summary.csv / summary.md: one row per trial that used the budget (finished, pruned,
failed), best first: finished trials by the metric in its direction, then pruned ones
(furthest first), then the rest; each with its searched values, the step it reached, its
last eval metrics, the best value found up to its trial number, and why it ended.
summary.md adds the best trial, the search's progress (best so far against trial number),
the samples rejected before start, and Optuna's hyperparameter importances.
eval_curves.png: the progress, the metric's eval curves (pruned trials dashed) and the
importances. trials.json: every trial's bindings and t2t-trainer command.
"""
import json
import math
import os
import statistics

from matplotlib import ticker
from optuna.trial import TrialState

from t2t_lite.sweep import report, spec
from t2t_lite.sweep import study as study_lib
from t2t_lite.training import run_dir

plt = report.plt  # report sets the file-only backend before pyplot is imported
TRIALS_FILE = "trials.json"
_ORDER = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.FAIL: 2,
          TrialState.RUNNING: 3, TrialState.WAITING: 4}


def _last_value(trial):
  """A finished trial's value; a pruned one's last reported value."""
  if trial.state == TrialState.COMPLETE:
    return trial.value
  if trial.intermediate_values:
    return trial.intermediate_values[max(trial.intermediate_values)]
  return None


def _note(trial):
  attrs = trial.user_attrs
  for key in (study_lib.PRUNED, study_lib.ERROR):
    if key in attrs:
      return attrs[key]
  if study_lib.RETRY_OF in attrs:
    return f"retry of trial {attrs[study_lib.RETRY_OF]} (resumed from its checkpoint)"
  return ""


def gather(sweep_dir, study):
  """What the report shows: (spec, [trial rows by trial number], rejected FrozenTrials)."""
  spec_ = study.user_attrs[study_lib.SPEC_ATTR]
  metric, direction = spec_["metric"], spec_["direction"]
  better = max if direction == "maximize" else min
  trials = study.get_trials(deepcopy=False)
  kept = sorted(study_lib.counted(trials), key=lambda t: t.number)
  keys = list(dict.fromkeys(k for t in kept for k in t.user_attrs.get(study_lib.OVERRIDES, {})))
  folders = {t.number: t.user_attrs.get(study_lib.FOLDER, "") for t in kept}
  curves = {n: report.eval_curves(os.path.join(sweep_dir, f)) if f else {}
            for n, f in folders.items()}
  names = sorted({m for c in curves.values() for m in c}, key=lambda m: (m != metric, m))
  out, best = [], None
  for t in kept:
    if t.state == TrialState.COMPLETE and t.value is not None:
      best = t.value if best is None else better(best, t.value)
    overrides = t.user_attrs.get(study_lib.OVERRIDES, {})
    final = report.final_metrics(curves[t.number])
    row = {"trial": t.number, "status": study_lib.status(t),
           **{k: overrides.get(k, "") for k in keys}, "step": report.final_step(curves[t.number]),
           **{m: final.get(m, "") for m in names},
           "best_so_far": "" if best is None else best, "note": _note(t),
           "folder": folders[t.number]}
    out.append({"frozen": t, "row": row, "curves": curves[t.number], "value": _last_value(t)})
  rejected = [t for t in trials if t.state == TrialState.FAIL
              and study_lib.REJECTED in t.user_attrs]
  return spec_, out, rejected


def ranked(spec_, entries):
  """Best first (see the module docstring)."""
  sign = -1.0 if spec_["direction"] == "maximize" else 1.0

  def order(e):
    t, value = e["frozen"], e["value"]
    missing = value is None or math.isnan(value)
    return (_ORDER.get(t.state, 5), -e["row"]["step"] if t.state == TrialState.PRUNED else 0,
            missing, 0.0 if missing else sign * value, t.number)
  return sorted(entries, key=order)


def _markdown(study, spec_, entries, rejected, importances, how):
  metric = spec_["metric"]
  counts = {s: sum(e["row"]["status"] == s for e in entries)
            for s in ("finished", "pruned", "failed", "running", "queued")}
  best = study_lib.best_trial([e["frozen"] for e in entries], spec_["direction"])
  preamble = [
      f"# Search: study '{study.study_name}', {metric} ({spec_['direction']}), "
      f"{spec_['pruner']} pruner", "",
      f"{len(entries)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
      + f"; {len(rejected)} sample(s) rejected before start.", ""]
  if best is not None:
    overrides = best.user_attrs.get(study_lib.OVERRIDES, {})
    preamble += [f"Best: trial {best.number}, {metric} {best.value:.4g} ("
                 + ", ".join(f"{spec.short_key(k)}={spec.short_value(v)}"
                             for k, v in overrides.items())
                 + f") in {best.user_attrs.get(study_lib.FOLDER, '')}", ""]
  sections = ["", "## Progress (best so far against trial number)", "",
              "| trial | status | " + metric + " | best so far |", "|---|---|---|---|"]
  for e in entries:
    sections.append(f"| {e['row']['trial']} | {e['row']['status']} | "
                    f"{report.cell(e['value']) if e['value'] is not None else ''} | "
                    f"{report.cell(e['row']['best_so_far'])} |")
  sections += ["", "## Hyperparameter importances", "", f"For {metric}: {how}.", ""]
  if importances:
    sections += ["| hparam | importance |", "|---|---|"]
    sections += [f"| {k} | {v:.3f} |" for k, v in importances.items()]
  if rejected:
    sections += ["", "## Rejected before start", ""]
    sections += [f"- {t.user_attrs[study_lib.REJECTED]}" for t in rejected]
  return preamble, sections


def _scale(ax, values):
  """A symmetric log scale when a few values are far off the rest (diverged trials)."""
  values = [abs(v) for v in values if v is not None and math.isfinite(v)]
  if not values:
    return
  typical = statistics.median(values)
  if typical > 0 and max(values) / typical > 20:
    ax.set_yscale("symlog", linthresh=typical)


def plot(path, spec_, entries, importances, how):
  """Progress, the metric's eval curves, the importances: one PNG."""
  metric = spec_["metric"]
  fig, (progress, curves, bars) = plt.subplots(1, 3, figsize=(16, 4.5))
  style = {TrialState.COMPLETE: ("o", "finished"), TrialState.PRUNED: ("x", "pruned")}
  for state, (marker, label) in style.items():
    points = [(e["frozen"].number, e["value"]) for e in entries
              if e["frozen"].state == state and e["value"] is not None]
    if points:
      progress.scatter(*zip(*points), marker=marker, label=label)
  best = [(e["frozen"].number, e["row"]["best_so_far"]) for e in entries
          if e["row"]["best_so_far"] != ""]
  if best:
    progress.step(*zip(*best), where="post", color="black", label="best so far")
  _scale(progress, [e["value"] for e in entries])
  progress.set(title=f"search progress: {metric}", xlabel="trial")
  progress.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  progress.legend(fontsize=8)
  plotted = []
  for e in entries:
    points = e["curves"].get(metric, [])
    if points:
      pruned = e["frozen"].state == TrialState.PRUNED
      curves.plot([s for s, _ in points], [v for _, v in points], marker="o", markersize=3,
                  linestyle="--" if pruned else "-", label=f"trial {e['frozen'].number}"
                  + (" (pruned)" if pruned else ""))
      plotted += [v for _, v in points]
  _scale(curves, plotted)
  curves.set(title=f"eval {metric} (pruned: dashed)", xlabel="step")
  if len(entries) <= 12:
    curves.legend(fontsize=7)
  if importances:
    names = list(importances)[::-1]
    bars.barh([spec.short_key(n) for n in names], [importances[n] for n in names],
              height=0.5)
    bars.set(title="hyperparameter importances", xlim=(0, 1))
  else:
    bars.text(0.5, 0.5, f"importances: {how}", ha="center", va="center", wrap=True)
    bars.set_axis_off()
  for ax in (progress, curves):
    ax.grid(alpha=0.3)
  fig.tight_layout()
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=100)
  plt.close(fig)
  os.replace(tmp, path)
  return path


def write(sweep_dir, study, command):
  """Writes summary.csv, summary.md, eval_curves.png and trials.json; returns the paths of
  the first three. command(number, overrides, folder) -> the trial's t2t-trainer argv."""
  spec_, entries, rejected = gather(sweep_dir, study)
  importances, how = study_lib.importances(study)
  preamble, sections = _markdown(study, spec_, entries, rejected, importances, how)
  table = [e["row"] for e in ranked(spec_, entries)]
  csv_path, md_path = report.write_summary(sweep_dir, table, preamble, sections)
  png_path = plot(os.path.join(sweep_dir, report.CURVES_PNG), spec_, entries, importances, how)
  run_dir.write_atomic(os.path.join(sweep_dir, TRIALS_FILE), json.dumps(
      [{"number": e["frozen"].number, "status": e["row"]["status"],
        "folder": e["row"]["folder"],
        "overrides": e["frozen"].user_attrs.get(study_lib.OVERRIDES, {}),
        "command": command(e["frozen"].number,
                           e["frozen"].user_attrs.get(study_lib.OVERRIDES, {}),
                           e["row"]["folder"])} for e in entries], indent=2))
  return csv_path, md_path, png_path
