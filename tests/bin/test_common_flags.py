"""Flags are derived from the declared option groups, and every declared bound refuses the
values outside it. (That every binary's flags are documented, with their defaults, is
tests/docs/test_reference.py's: the reference is generated from the same declarations.)"""
import re

import pytest
from absl import flags

import t2t_lite
from t2t_lite import options
from t2t_lite.bin import common_flags
from t2t_lite.errors import UserError
from t2t_lite.options import setting
from t2t_lite.reference import declarations
from tests.bin import helpers


@options.group("CommonFlagsExample")
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
  return [g for g in declarations.groups() if g is not _Example]


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
