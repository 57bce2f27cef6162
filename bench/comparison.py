"""What the quality comparisons (quality_compare.py, speech_compare.py) share: running a
toolkit's commands, the results rows, the measuring loop over a toolkit's checkpoints, the
equal wall-clock reading, the markdown table and the plot.

Rows go to WORK/results.jsonl as they are measured, one JSON object per line with its
toolkit, kind ("params", "dev" or "test") and step; a rerun skips what is there, so a
comparison stopped by a failure continues where it stopped.
"""
import collections
import json
import os
import subprocess
import time

NICENESS = 10  # the toolkits' (other users' jobs on a shared machine run at 10 too)


def run(cmd, log_path, env=None):
  """Runs cmd at niceness NICENESS whatever this process's own (under `nice` itself, an
  increment of 10 would put the toolkits at 19, starved behind other users' nice-10
  jobs), its output appended to log_path; one error line if it fails."""
  increment = max(0, NICENESS - os.nice(0))
  with open(log_path, "a") as log:
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    code = subprocess.call(["nice", "-n", str(increment)] + cmd, stdout=log,
                           stderr=subprocess.STDOUT, env=env)
  if code:
    raise SystemExit(f"error: {os.path.basename(cmd[0])} exited with {code}; see {log_path}")


def read_lines(path):
  with open(path, encoding="utf-8") as f:
    return [line.rstrip("\n") for line in f]


def write_lines(path, lines):
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    f.writelines(line + "\n" for line in lines)
  os.replace(path + ".tmp", path)


def toolkits_of(parser, toolkits, classes):
  """The names in --toolkits (comma-separated), each one of `classes`; a usage error
  names the unknown ones."""
  names = toolkits.split(",")
  unknown = set(names) - set(classes)
  if unknown:
    parser.error(f"unknown toolkit(s) {sorted(unknown)}; choose from {','.join(classes)}")
  return names


# --- results rows -----------------------------------------------------------------------


def load_rows(path):
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def append_row(path, row):
  with open(path, "a") as f:
    f.write(json.dumps(row, sort_keys=True) + "\n")


def done(rows, toolkit, kind, step):
  return any(r["toolkit"] == toolkit and r["kind"] == kind and r["step"] == step for r in rows)


class Toolkit:
  """Trains into WORK/NAME and tells its checkpoints, their times and its size."""

  name = None

  def __init__(self, args, work):
    self.args = args
    self.dir = os.path.join(work, self.name)
    self.log = os.path.join(self.dir, "log.txt")
    os.makedirs(self.dir, exist_ok=True)

  def setup(self):
    """What comes before training and is not timed with it (nothing by default)."""

  def train(self):
    raise NotImplementedError

  def checkpoints(self):
    """{step: path} of the saved checkpoints."""
    raise NotImplementedError

  def checkpoint_time(self, path):
    return os.path.getmtime(path)

  def params(self):
    raise NotImplementedError


class T2TRun:
  """A Toolkit mixin: t2t_lite's binaries in args.t2t_bin, training into DIR/run."""

  def _bin(self, name):
    return os.path.join(self.args.t2t_bin, name)

  def checkpoints(self):
    run_dir = os.path.join(self.dir, "run")
    found = {}
    for name in os.listdir(run_dir) if os.path.isdir(run_dir) else []:
      if name.startswith("model.ckpt-") and name.endswith(".index"):
        found[int(name[len("model.ckpt-"):-len(".index")])] = os.path.join(
            run_dir, name[:-len(".index")])
    return found

  def checkpoint_time(self, path):
    return os.path.getmtime(path + ".index")

  def params(self):
    # A checkpoint keys each variable once, under the first path that reaches it: the
    # model's or the optimizer's list of trainable variables (not its slots).
    code = ("import re,sys,numpy as np,tensorflow as tf;r=tf.train.load_checkpoint(sys.argv[1]);"
            "print(sum(int(np.prod(s)) for n,s in r.get_variable_to_shape_map().items() if "
            "re.match('(model/|optimizer/_trainable_variables/)',n) and "
            "'OPTIMIZER_SLOT' not in n and 'seed_state' not in n))")
    last = self.checkpoints()[max(self.checkpoints())]
    out = subprocess.run([self._bin("python"), "-c", code, last], capture_output=True,
                         text=True)
    return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None


def measure(toolkit, results, steps, dev_scores, test_scores):
  """Trains `toolkit` for `steps` unless its checkpoint is there, then appends its rows:
  its parameters, each checkpoint's dev_scores(path) (a dict) with the training seconds
  (checkpoint file time minus the training process's start: start-up counts, evaluation
  does not), and test_scores(path) at `steps`."""
  name = toolkit.name
  if done(load_rows(results), name, "test", steps):
    return
  started = os.path.join(toolkit.dir, "started")
  if steps not in toolkit.checkpoints():
    toolkit.setup()
    with open(started, "w") as f:  # the training clock's zero, kept for a rerun
      f.write(str(time.time()))
    print(f"{name}: training {steps} steps", flush=True)
    toolkit.train()
  with open(started) as f:
    start = float(f.read())
  if not done(load_rows(results), name, "params", 0):
    append_row(results, {"toolkit": name, "kind": "params", "step": 0,
                         "params": toolkit.params()})
  for step, path in sorted(toolkit.checkpoints().items()):
    if done(load_rows(results), name, "dev", step):
      continue
    scores = dev_scores(path)
    append_row(results, {"toolkit": name, "kind": "dev", "step": step,
                         "seconds": toolkit.checkpoint_time(path) - start, **scores})
    print(f"{name} step {step}: dev " + format_scores(scores), flush=True)
  path = toolkit.checkpoints()[steps]
  scores = test_scores(path)
  append_row(results, {"toolkit": name, "kind": "test", "step": steps,
                       "seconds": toolkit.checkpoint_time(path) - start, **scores})
  print(f"{name}: test " + format_scores(scores), flush=True)


def format_scores(scores):
  return ", ".join(f"{k} {v:.4g}" for k, v in scores.items() if isinstance(v, float))


# --- the table and the plot -------------------------------------------------------------


def summarize(rows):
  """Per toolkit: its dev curve, final test row, and its checkpoint at the common budget.

  Equal wall-clock: the shortest of the toolkits' training times is the budget; each
  toolkit is read at its last checkpoint saved within it (what stopping then would give).
  """
  table = {}
  for r in rows:
    entry = table.setdefault(r["toolkit"], {"dev": [], "test": {}, "params": None})
    if r["kind"] == "dev":
      entry["dev"].append(r)
    elif r["kind"] == "test":  # one per step it was measured at
      entry["test"][r["step"]] = r
    elif r["kind"] == "params":
      entry["params"] = r["params"]
  for entry in table.values():
    entry["dev"].sort(key=lambda r: r["step"])
  finished = [e["dev"][-1]["seconds"] for e in table.values() if e["dev"]]
  budget = min(finished) if finished else None
  for entry in table.values():
    reached = [r for r in entry["dev"] if budget is not None and r["seconds"] <= budget]
    entry["at_budget"] = reached[-1] if reached else None
  return table, budget


# One column of the table: its header, whether it reads the "dev" or the "test" row of a
# step, the row's key, and the value's format (an empty cell when the row lacks the key).
Column = collections.namedtuple("Column", "header kind key fmt")


def markdown(table, budget, columns, notes=()):
  """The table (a row per toolkit and evaluated step), the equal wall-clock reading by
  the first column, then `notes` lines."""
  lines = ["| toolkit | params | step | train s | " + " | ".join(c.header for c in columns)
           + " |", "|---|---|---|---|" + "---|" * len(columns)]
  for toolkit, e in table.items():
    for r in e["dev"]:
      rows = {"dev": r, "test": e["test"].get(r["step"]) or {}}
      cells = [format(rows[c.kind][c.key], c.fmt) if rows[c.kind].get(c.key) is not None
               else "" for c in columns]
      lines.append(f"| {toolkit} | {e['params'] or ''} | {r['step']} | {r['seconds']:.0f} | "
                   + " | ".join(cells) + " |")
  if budget is not None:
    first = columns[0]
    lines += ["", f"At equal wall-clock ({budget:.0f} s, the shortest run's training time), "
              "each toolkit's last checkpoint saved by then:", ""]
    for toolkit, e in table.items():
      r = e["at_budget"]
      lines.append(f"- {toolkit}: " + (f"step {r['step']} ({r['seconds']:.0f} s), "
                                       f"{first.header} {r[first.key]:{first.fmt}}"
                                       if r else "no checkpoint yet"))
  if notes:
    lines += [""] + list(notes)
  return "\n".join(lines) + "\n"


def plot(table, path, key, ylabel):
  """dev `key` against steps and against training seconds, a line per toolkit."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for toolkit, e in table.items():
    steps = [r["step"] for r in e["dev"]]
    secs = [r["seconds"] for r in e["dev"]]
    scores = [r[key] for r in e["dev"]]
    axes[0].plot(steps, scores, marker="o", label=toolkit)
    axes[1].plot(secs, scores, marker="o", label=toolkit)
  axes[0].set_xlabel("training steps")
  axes[1].set_xlabel("training wall-clock seconds (shared machine)")
  for ax in axes:
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def write_report(work, columns, plot_name, key, ylabel, notes=lambda table: ()):
  """WORK/results.md and WORK/PLOT_NAME from WORK/results.jsonl; prints the table."""
  table, budget = summarize(load_rows(os.path.join(work, "results.jsonl")))
  text = markdown(table, budget, columns, notes(table))
  with open(os.path.join(work, "results.md"), "w") as f:
    f.write(text)
  if any(e["dev"] for e in table.values()):
    plot(table, os.path.join(work, plot_name), key, ylabel)
  print(text)
