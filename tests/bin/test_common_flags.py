"""Flags are derived from the declared option groups: every binary's flags are documented in
its section of the docs, every flag a docs table lists exists, and every declared bound
refuses the values outside it."""
import glob
import json
import os
import re
import subprocess
import sys

import pytest
from absl import flags

import t2t_lite
from t2t_lite import options
from t2t_lite.bin import common_flags
from t2t_lite.errors import UserError
from t2t_lite.options import setting
from tests.bin import helpers

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs")
BINARIES = ["t2t_datagen", "t2t_trainer", "t2t_decoder", "t2t_bleu", "t2t_exporter",
            "t2t_avg_checkpoints", "t2t_benchmark", "t2t_sweep", "t2t_local_cluster",
            "t2t_launch", "t2t_serve"]
# Documented once for every binary, in the docs' "The binaries" introduction.
SHARED = {"t2t_usr_dir", "registry_help", "gin_file", "gin_param"}

# Prints {flag: [default, help]} of the flags a binary defines itself.
DUMP = """
import importlib, json, sys
from absl import flags
importlib.import_module("t2t_lite.bin." + sys.argv[1])
print(json.dumps({f.name: [f.default, f.help]
                  for module, fs in flags.FLAGS.flags_by_module_dict().items()
                  if module.startswith("t2t_lite") for f in fs}))
"""


@pytest.fixture(scope="module")
def binary_flags():
  procs = {b: subprocess.Popen([sys.executable, "-c", DUMP, b], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for b in BINARIES}
  out = {}
  for binary, proc in procs.items():
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    out[binary] = json.loads(stdout.strip().splitlines()[-1])
  return out


def _docs_text():
  return "\n".join(open(p).read() for p in sorted(glob.glob(f"{DOCS}/**/*.md", recursive=True)))


def _section(text, binary):
  """The docs' text from a binary's heading to the next binary's heading."""
  name = binary.replace("_", "-")
  start = re.search(rf"^##+ (?:[^\n]*: )?{re.escape(name)}$", text, re.M)
  assert start, f"the docs have no section for {name}"
  level = len(start.group(0)) - len(start.group(0).lstrip("#"))
  section, fenced = [], False
  for line in text[start.end():].splitlines():
    fenced ^= line.startswith("```")
    if not fenced and re.match(rf"^#{{1,{level}}} ", line):
      break
    section.append(line)
  return "\n".join(section)


def test_every_flag_is_in_its_binarys_docs_section(binary_flags):
  text = _docs_text()
  for binary, defined in binary_flags.items():
    section = _section(text, binary)
    missing = [f for f in defined if f not in SHARED and f"--{f}" not in section]
    assert not missing, f"the docs' {binary} section does not document {missing}"


def test_every_flag_in_a_docs_table_exists(binary_flags):
  text = _docs_text()
  for binary, defined in binary_flags.items():
    rows = [l for l in _section(text, binary).splitlines() if l.startswith("| `--")]
    listed = {f for row in rows for f in re.findall(r"`--([a-z0-9_]+)", row.split("|")[1])}
    unknown = listed - set(defined) - SHARED
    assert not unknown, f"the docs' {binary} table lists flags it does not have: {unknown}"


@options.group()
class _Example(options.Options):
  steps: int = setting(5, "steps", minimum=1)
  rate: float = setting(0.1, "a rate", minimum=0, below=1)
  mode: str = setting("a", "a mode", choices=("a", "b"))
  name: str | None = setting(None, "a name")


def test_flags_are_defined_from_declarations():
  fv = flags.FlagValues()
  common_flags.define_flags(_Example, flag_values=fv)
  fv(["prog", "--steps=7", "--mode=b"])
  assert _Example.from_flags(fv) == _Example(steps=7, mode="b")
  assert fv["steps"].help == "steps" and fv["rate"].default == 0.1
  with pytest.raises(flags.IllegalFlagValueError):
    fv["mode"].parse("c")  # choices become an enum flag


def _declared_groups():
  """Every option group the binaries define flags from."""
  import t2t_lite.bin.t2t_avg_checkpoints  # noqa: F401
  import t2t_lite.bin.t2t_benchmark  # noqa: F401
  import t2t_lite.bin.t2t_bleu  # noqa: F401
  import t2t_lite.bin.t2t_decoder  # noqa: F401
  import t2t_lite.bin.t2t_exporter  # noqa: F401
  import t2t_lite.bin.t2t_launch  # noqa: F401
  import t2t_lite.bin.t2t_local_cluster  # noqa: F401
  import t2t_lite.bin.t2t_serve  # noqa: F401
  import t2t_lite.bin.t2t_sweep  # noqa: F401
  import t2t_lite.bin.t2t_trainer  # noqa: F401

  def subclasses(cls):
    for sub in cls.__subclasses__():
      yield sub
      yield from subclasses(sub)
  return [g for g in subclasses(options.Options) if g is not _Example]


def test_every_declared_bound_refuses_the_values_outside_it():
  checked = 0
  for group in _declared_groups():
    for name, type_, declaration, _ in group.declarations():
      for bad in declaration.bounds.invalid_values(type_):
        with pytest.raises(UserError, match=re.escape(group.where(name))):
          group(**{name: bad})
        checked += 1
  assert checked >= 30  # train_steps, eval_steps, batch, beam_size, num_workers, ...


def test_binaries_print_the_version_and_exit_zero():
  for name in ("t2t-trainer", "t2t-serve"):
    proc = helpers.run(name, "--version")
    assert proc.stdout.strip() == f"{name} (t2t_lite) {t2t_lite.__version__}"
