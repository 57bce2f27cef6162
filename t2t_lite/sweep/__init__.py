"""t2t-sweep: validated, resumable config sweeps (spec, ranges, trials, runner, report)."""
