"""t2t-sweep: validated, resumable sweeps of t2t-trainer runs, with a summary and a plot.

  t2t-sweep --sweep_file=lr.toml --output_dir=sweeps/lr --parallel=2
  t2t-sweep --sweep_file=lr.toml --output_dir=sweeps/lr --print_commands   # for a scheduler

Every trial is checked before any starts. Each trial trains in OUTPUT_DIR/<trial name>
(named after its overrides), as a t2t-trainer subprocess; rerunning skips finished trials
and resumes interrupted ones. Writes OUTPUT_DIR/summary.csv, summary.md (best first) and
eval_curves.png. The sweep file format is described in t2t_lite/sweep/spec.py and README.
"""
import json
import os

from t2t_lite import experiment, options
from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS
from t2t_lite.errors import UserError, suggestion
from t2t_lite.options import setting
from t2t_lite.sweep import report, runner, spec, validate
from t2t_lite.training import run_dir


@options.group()
class SweepOptions(options.Options):
  sweep_file: str | None = setting(None, "The sweep (TOML): [base], [grid], [zip], "
                                   "[random].")
  output_dir: str | None = setting(None, "The sweep's folder: one subfolder per trial, and "
                                   "the summary and plot.")
  parallel: int = setting(1, "Trials run at once.", minimum=1)
  print_commands: bool = setting(False, "Validate, then print one t2t-trainer command per "
                                 "trial (for a cluster scheduler) instead of running them.")
  sort_by: str = setting("neg_log_perplexity", "Eval metric that ranks the trials in the "
                         "summary (higher is better).")
  progress_secs: float = setting(30.0, "Print the running trials' steps this often.",
                                 above=0)
  t2t_usr_dir: str | None = setting(None, "Your own registrations (also passed to each "
                                    "trial; overrides the sweep file's t2t_usr_dir).")


common_flags.define_flags(SweepOptions)
common_flags.define_gin_flags()

TRIALS_FILE = "trials.json"


def main(argv):
  SweepOptions.from_flags(FLAGS)  # the declared bounds (--parallel=0 is refused)
  for name in ("sweep_file", "output_dir"):
    if not FLAGS[name].value:
      raise UserError(f"missing --{name}")
  sweep = spec.load(os.path.expanduser(FLAGS.sweep_file), FLAGS.t2t_usr_dir,
                    experiment.load_registrations)
  checked = validate.check_all(sweep, FLAGS.gin_file, FLAGS.gin_param)
  metrics = sorted({m for c in checked.values() for m in c.eval_metrics})
  if FLAGS.sort_by not in metrics:
    raise UserError(f"--sort_by={FLAGS.sort_by} is not an eval metric of these trials"
                    f"{suggestion(FLAGS.sort_by, metrics)}")
  sweep_dir = os.path.abspath(os.path.expanduser(FLAGS.output_dir))
  if FLAGS.print_commands:
    for trial in sweep.trials:
      print(runner.shell_command(runner.command(sweep, trial, sweep_dir, FLAGS.gin_file,
                                                FLAGS.gin_param)))
    return
  print(f"validated {len(sweep.trials)} trial(s) of {sweep.path}", flush=True)
  os.makedirs(sweep_dir, exist_ok=True)
  run_dir.write_atomic(os.path.join(sweep_dir, TRIALS_FILE), json.dumps(
      [{"index": t.index, "name": t.name, "overrides": t.overrides,
        "command": runner.command(sweep, t, sweep_dir, FLAGS.gin_file, FLAGS.gin_param)}
       for t in sweep.trials], indent=2))
  status = runner.Runner(sweep, checked, sweep_dir, FLAGS.gin_file, FLAGS.gin_param,
                         parallel=FLAGS.parallel, progress_secs=FLAGS.progress_secs).run()
  results = {t.name: {"status": status.get(t.name, "not started"),
                      "curves": report.eval_curves(os.path.join(sweep_dir, t.name))}
             for t in sweep.trials}
  table, _, _ = report.rows(sweep.trials, results, FLAGS.sort_by)
  csv_path, md_path = report.write_summary(sweep_dir, table)
  png_path = report.plot_curves(os.path.join(sweep_dir, report.CURVES_PNG), sweep.trials,
                                results, FLAGS.sort_by)
  with open(md_path) as f:
    print(f.read(), end="")
  print(f"wrote {csv_path}, {md_path} and {png_path}")
  failed = [n for n, s in status.items() if s == "failed"]
  if failed:
    raise UserError(f"{len(failed)} trial(s) failed: {', '.join(failed)}; see train.log in "
                    "their folders, fix, and rerun the same command")
  if any(s == "interrupted" for s in status.values()):
    raise KeyboardInterrupt


def run():
  common_flags.run_main(main, "t2t-sweep")


if __name__ == "__main__":
  run()
