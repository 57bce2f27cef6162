"""A sweep's results: each trial's eval curves, a summary table (CSV and Markdown, best
first) and a PNG of every trial's eval curves.

The curves come from what the trainer already writes: TensorBoard scalars `metrics/NAME`
in OUTPUT_DIR/eval (one events file per trainer invocation; a later file wins a step).
"""
import csv
import io
import os
import re

import matplotlib
import tensorflow as tf
from tensorflow.core.util import event_pb2

from t2t_lite import metrics as metrics_lib
from t2t_lite.training import run_dir

matplotlib.use("Agg")  # files only: no display on servers; set before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402

SUMMARY_CSV, SUMMARY_MD, CURVES_PNG = "summary.csv", "summary.md", "eval_curves.png"
METRIC_PREFIX = "metrics/"


def _written_order(path):
  """Sort key of an event file by when it was opened: TensorFlow names them
  events.out.tfevents.SECONDS.HOST.PID.COUNTER[.v2]; by name, a resumed run's file opened
  in the same second with counter 10 would come before counter 9's."""
  match = re.search(r"tfevents\.(\d+)\..*\.(\d+)\.(\d+)(?:\.v2)?$", os.path.basename(path))
  return (int(match.group(1)), int(match.group(3)), path) if match else (0, 0, path)


def eval_curves(output_dir):
  """{metric: [(step, value), ...]} by step, from the eval summaries in output_dir (a
  step evaluated again, by a resumed run, keeps its latest value)."""
  by_metric = {}
  for path in sorted(tf.io.gfile.glob(os.path.join(output_dir, "eval", "events.out.tfevents.*")),
                     key=_written_order):
    try:
      for record in tf.data.TFRecordDataset(path):
        event = event_pb2.Event.FromString(record.numpy())
        for v in event.summary.value:
          if v.tag.startswith(METRIC_PREFIX):
            value = (float(tf.make_ndarray(v.tensor)) if v.HasField("tensor")
                     else float(v.simple_value))
            by_metric.setdefault(v.tag[len(METRIC_PREFIX):], {})[int(event.step)] = value
    except tf.errors.DataLossError:
      continue  # the tail of a file whose trainer was killed mid-write
  return {m: sorted(points.items()) for m, points in by_metric.items()}


def final_step(curves):
  return max((points[-1][0] for points in curves.values() if points), default=0)


def final_metrics(curves):
  """The metrics of the last evaluation."""
  step = final_step(curves)
  return {m: dict(points)[step] for m, points in curves.items() if dict(points).get(step)
          is not None}


def differing_keys(trials):
  """The override keys whose values are not the same in every trial (all keys of a
  single trial), in sweep-file order."""
  keys = list(dict.fromkeys(k for t in trials for k in t.overrides))
  if len(trials) <= 1:
    return keys
  missing = object()
  return [k for k in keys if len({repr(t.overrides.get(k, missing)) for t in trials}) > 1]


def rows(trials, results, sort_by):
  """One row per trial, best first by `sort_by` (in its declared direction, metrics.direction;
  trials without it last). results: {trial name: {"status": str, "curves": {...}}}."""
  keys = differing_keys(trials)
  metrics = sorted({m for r in results.values() for m in r["curves"]})
  table = []
  for t in trials:
    curves = results[t.name]["curves"]
    final = final_metrics(curves)
    row = {"trial": t.name, "status": results[t.name]["status"]}
    row.update({k: t.overrides.get(k, "") for k in keys})
    row["step"] = final_step(curves)
    row.update({m: final.get(m, "") for m in metrics})
    table.append((t.index, row))
  sign = -1.0 if metrics_lib.higher_is_better(sort_by) else 1.0

  def order(item):
    index, row = item
    value = row.get(sort_by, "")
    return (value == "", sign * (value if value != "" else 0.0), index)
  return [row for _, row in sorted(table, key=order)], keys, metrics


def cell(v):
  return f"{v:.4g}" if isinstance(v, float) else str(v)


def write_summary(sweep_dir, table, preamble=(), sections=()):
  """summary.csv and summary.md in sweep_dir (the markdown: `preamble` lines, the table,
  then `sections` lines); returns their paths."""
  columns = list(table[0]) if table else ["trial", "status"]
  buf = io.StringIO()
  writer = csv.DictWriter(buf, columns, lineterminator="\n")
  writer.writeheader()
  writer.writerows(table)
  csv_path = os.path.join(sweep_dir, SUMMARY_CSV)
  run_dir.write_atomic(csv_path, buf.getvalue())
  lines = list(preamble) + ["| rank | " + " | ".join(columns) + " |",
                            "|---|" + "---|" * len(columns)]
  lines += [f"| {i + 1} | " + " | ".join(cell(r[c]) for c in columns) + " |"
            for i, r in enumerate(table)]
  lines += list(sections)
  md_path = os.path.join(sweep_dir, SUMMARY_MD)
  run_dir.write_atomic(md_path, "\n".join(lines) + "\n")
  return csv_path, md_path


def plot_curves(path, trials, results, sort_by):
  """One panel per eval metric (sort_by first), one line per trial."""
  metrics = sorted({m for r in results.values() for m in r["curves"]},
                   key=lambda m: (m != sort_by, m))
  panels = max(len(metrics), 1)
  fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
  for ax, metric in zip(axes[0], metrics):
    for t in trials:
      points = results[t.name]["curves"].get(metric, [])
      if points:
        ax.plot([s for s, _ in points], [v for _, v in points], marker="o", markersize=3,
                label=t.label())
    ax.set_title(metric)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
  if not metrics:
    axes[0][0].text(0.5, 0.5, "no evaluation yet", ha="center", va="center")
  handles, labels = axes[0][0].get_legend_handles_labels()
  if handles:
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.06 + 0.04 * ((len(labels) - 1) // 3), 1, 1))
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=100)
  plt.close(fig)
  os.replace(tmp, path)
  return path
