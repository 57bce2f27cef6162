"""t2t-sweep: validated, resumable sweeps of t2t-trainer runs, with a summary and a plot.

  t2t-sweep --sweep_file=lr.toml --output_dir=sweeps/lr --parallel=2
  t2t-sweep --sweep_file=lr.toml --output_dir=sweeps/lr --print_commands   # for a scheduler

Every trial is checked before any starts. Each trial trains in OUTPUT_DIR/<trial name>
(named after its overrides), as a t2t-trainer subprocess; rerunning skips finished trials
and resumes interrupted ones. Writes OUTPUT_DIR/summary.csv, summary.md (best first) and
eval_curves.png. The sweep file format is described in t2t_lite/sweep/spec.py and
docs/tutorials/sweeps.md.

A [search] (guided search with Optuna) keeps its trials in a study in a database, which
more workers may join, on this machine or others:

  t2t-sweep --sweep_file=search.toml --output_dir=sweeps/s      # runs, then reports
  t2t-sweep --sweep_file=search.toml --output_dir=sweeps/s --worker   # one more worker
"""
import json
import os
import sys
import typing

from t2t_lite import experiment, metrics
from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS
from t2t_lite.errors import UserError, suggestion
from t2t_lite.sweep import report, runner, search, search_report, spec, validate
from t2t_lite.sweep import study as study_lib
from t2t_lite.sweep.sweep_options import SweepOptions
from t2t_lite.training import run_dir

common_flags.define_flags(SweepOptions)
common_flags.define_gin_flags()

TRIALS_FILE = "trials.json"


class Config(typing.NamedTuple):
  """t2t-sweep's run configuration, built once from the flags in main."""
  settings: SweepOptions
  gin_files: list  # --gin_file and --gin_param, passed on to every trial
  gin_params: list
  given: frozenset  # the flags given on the command line


def configuration():
  """Config from the flags and gin (--gin_file and --gin_param may bind Sweep.*). The
  bindings of a user directory's configurables are the trials' (checked with them, after
  the directory is imported)."""
  common_flags.parse_gin(SweepOptions, skip_unknown=True)
  given = set(SweepOptions.gin_bindings())  # on the command line or in gin
  return Config(SweepOptions.from_config(), FLAGS.gin_file, FLAGS.gin_param,
                frozenset(n for n in ("worker", "storage", "study_name", "sort_by")
                          if n in given))


def main(argv):
  config = configuration()
  settings = config.settings
  for name in ("sweep_file", "output_dir"):
    if not getattr(settings, name):
      raise UserError(f"missing --{name}")
  sweep = spec.load(os.path.expanduser(settings.sweep_file), settings.t2t_usr_dir,
                    experiment.load_registrations)
  if sweep.search is not None:
    return search_main(sweep, config)
  for name in ("worker", "storage", "study_name"):
    if name in config.given:
      raise UserError(f"--{name} is for a [search]; {sweep.path} has none")
  checked = validate.check_all(sweep, config.gin_files, config.gin_params)
  metrics = sorted({m for c in checked.values() for m in c.eval_metrics})
  if settings.sort_by not in metrics:
    raise UserError(f"--sort_by={settings.sort_by} is not an eval metric of these trials"
                    f"{suggestion(settings.sort_by, metrics)}")
  sweep_dir = os.path.abspath(os.path.expanduser(settings.output_dir))
  if settings.print_commands:
    for trial in sweep.trials:
      print(runner.shell_command(runner.command(sweep, trial, sweep_dir, config.gin_files,
                                                config.gin_params)))
    return
  print(f"validated {len(sweep.trials)} trial(s) of {sweep.path}", flush=True)
  os.makedirs(sweep_dir, exist_ok=True)
  run_dir.write_atomic(os.path.join(sweep_dir, TRIALS_FILE), json.dumps(
      [{"index": t.index, "name": t.name, "overrides": t.overrides,
        "command": runner.command(sweep, t, sweep_dir, config.gin_files, config.gin_params)}
       for t in sweep.trials], indent=2))
  status = runner.Runner(sweep, checked, sweep_dir, config.gin_files, config.gin_params,
                         parallel=settings.parallel, progress_secs=settings.progress_secs,
                         program=common_flags.binary_command("t2t-trainer")).run()
  results = {t.name: {"status": status.get(t.name, "not started"),
                      "curves": report.eval_curves(os.path.join(sweep_dir, t.name))}
             for t in sweep.trials}
  table, _, _ = report.rows(sweep.trials, results, settings.sort_by)
  csv_path, md_path = report.write_summary(sweep_dir, table)
  png_path = report.plot_curves(os.path.join(sweep_dir, report.CURVES_PNG), sweep.trials,
                                results, settings.sort_by)
  with open(md_path) as f:
    print(f.read(), end="")
  print(f"wrote {csv_path}, {md_path} and {png_path}")
  failed = [n for n, s in status.items() if s == "failed"]
  if failed:
    raise UserError(f"{len(failed)} trial(s) failed: {', '.join(failed)}; see train.log in "
                    "their folders, fix, and rerun the same command")
  if any(s == "interrupted" for s in status.values()):
    raise KeyboardInterrupt


def search_main(sweep, config):
  """A [search]: validate the space, join (or create) the study, run trials, report."""
  settings = config.settings
  if "sort_by" in config.given:
    raise UserError("--sort_by is for grid, zip and random sweeps: a [search] ranks by its "
                    "metric")
  checked, notes = validate.check_search(sweep, config.gin_files, config.gin_params)
  metric = sweep.search.metric
  direction = sweep.search.direction or (
      "maximize" if metrics.higher_is_better(metric) else "minimize")
  sweep_dir = os.path.abspath(os.path.expanduser(settings.output_dir))
  url = settings.storage or study_lib.default_storage(sweep_dir)
  name = settings.study_name or os.path.basename(sweep_dir)
  description = study_lib.description(sweep, checked, direction, config.gin_files,
                                      config.gin_params)
  study_lib.quiet()
  if settings.print_commands:
    found = search.trial_commands(sweep, sweep_dir, url, name, description, config.gin_files,
                                  config.gin_params)
    if found is None:
      print(f"t2t-sweep: no trial yet: study '{name}' is not in {study_lib.shown_url(url)}; "
            "run t2t-sweep without --print_commands to start the search", file=sys.stderr)
    for args in found or ():
      print(runner.shell_command(args))
    return
  print(f"validated the [search] space of {sweep.path}: {len(sweep.search.ranges)} range(s), "
        f"{sweep.search.sampler} sampler, {sweep.search.pruner} pruner, {metric} "
        f"({direction})", flush=True)
  for note in notes:
    print(note, flush=True)
  os.makedirs(sweep_dir, exist_ok=True)
  storage = study_lib.open_storage(url, settings.heartbeat_secs)
  the_study = study_lib.open_study(storage, name, description,
                                   sampler=study_lib.make_sampler(sweep.search),
                                   pruner=study_lib.pruner_of(description))
  worker = search.SearchWorker(
      sweep=sweep, study=the_study, storage=storage, storage_url=url, sweep_dir=sweep_dir,
      extra_files=config.gin_files, extra_params=config.gin_params, parallel=settings.parallel,
      progress_secs=settings.progress_secs, heartbeat_secs=settings.heartbeat_secs,
      program=common_flags.binary_command("t2t-trainer"))
  outcome = worker.run()
  if settings.worker:
    print(f"worker {worker.name} {'stopped' if outcome == 'interrupted' else 'done'}: "
          f"{worker.done_count()} of {sweep.search.trials} trials of study '{name}' done")
  else:
    paths = search_report.write(
        sweep_dir, the_study,
        lambda n, o, f: worker.command(n, o, f, ("t2t-trainer",), study_lib.shown_url(url)))
    with open(paths[1]) as f:
      print(f.read(), end="")
    print(f"wrote {', '.join(paths)}")
  if outcome == "interrupted":
    raise KeyboardInterrupt


def run():
  common_flags.run_main(main, "t2t-sweep")


if __name__ == "__main__":
  run()
