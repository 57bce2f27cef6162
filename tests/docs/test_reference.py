"""The generated reference covers every declaration: each binary's flags, each hparams
group's hparams, each decoder's decode hparams, each problem's settings and each registered
name appear in the generated pages with their defaults; t2t-docs documents a user
directory's own declarations the same way."""
import importlib
import re

import pytest
from absl import flags as absl_flags

from t2t_lite import experiment, options, registry
from t2t_lite.reference import flags, markdown, names, pages
from tests.bin import helpers
from tests.usr_dir_example import write_usr_dir


@pytest.fixture(scope="module")
def reference():
  return pages.build()


def _section(page, title):
  """The rows of a page's `## title` section."""
  match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", page, re.M | re.S)
  assert match, f"no section {title}"
  return match.group(1)


def _row(section, name):
  rows = [l for l in section.splitlines() if l.startswith(f"| {name} |")]
  assert rows, f"{name} is not documented"
  return rows[0]


def test_every_flag_of_every_binary_is_documented_with_its_default(reference):
  for command, module in flags.binaries().items():
    importlib.import_module(module)  # the flags it defines, in this process too
    section = _section(reference[pages.FLAGS], command)
    assert section.count("| `--") >= 2, command
  defined = [f for owner, fs in absl_flags.FLAGS.flags_by_module_dict().items()
             if owner.startswith("t2t_lite") for f in fs]
  for f in defined:
    row = f"| `--{f.name}` | {f.flag_type()} | {markdown.code(f.default)} |"
    assert row in reference[pages.FLAGS], f"--{f.name} (default {f.default!r}) is missing"


def test_each_binary_s_flags_are_its_own(reference):
  # --ensemble is an int in t2t-benchmark and a string in t2t-decoder: read in one process,
  # both would show the definition of whichever module came first.
  def ensemble(command):
    return _row(_section(reference[pages.FLAGS], command), "`--ensemble`").split(" | ")[1]
  assert (ensemble("t2t-benchmark"), ensemble("t2t-decoder")) == ("int", "string")


def test_every_flag_row_shows_its_declared_bounds(reference):
  rows = _section(reference[pages.FLAGS], "t2t-trainer").splitlines()
  train_steps = next(r for r in rows if r.startswith("| `--train_steps` |"))
  assert "| >= 1 | `Trainer.train_steps` |" in train_steps
  strategy = next(r for r in rows if r.startswith("| `--strategy` |"))
  assert "`mirrored`" in strategy and "`run.strategy`" in strategy
  assert "| tf.distribute strategy" in strategy  # absl's "<a|b>: " prefix dropped


def test_every_hparam_is_documented_with_its_default(reference):
  page = reference[pages.HPARAMS]
  for gin_name, group in options.HPARAMS_GROUPS.items():
    section = _section(page, gin_name)
    for name, type_, declaration, default in group.declarations():
      row = _row(section, f"`{name}`")
      assert row.startswith(f"| `{name}` | {type_.__name__} | {markdown.code(default)} |")
      assert markdown.cell(declaration.help) in row


def test_hparams_rows_name_the_sets_that_change_them(reference):
  section = _section(reference[pages.HPARAMS], "batching")
  values = registry.hparams("transformer_base").values()
  assert f"`transformer_base`: {markdown.code(values['max_length'])}" in _row(
      section, "`max_length`")


def test_every_decode_hparam_and_problem_setting_is_documented(reference):
  experiment.load_registrations()
  for problem_name in registry.problems.names():
    problem = registry.problem(problem_name)
    group = problem.decoder_class.DECODE_HPARAMS
    section = _section(reference[pages.DECODE_HPARAMS], group.gin_name)
    assert f"`{problem_name}`" in section
    for name, _, _, default in group.declarations():
      assert _row(section, f"`{name}`").startswith(f"| `{name}` | ")
      assert f" | {markdown.code(default)} | " in _row(section, f"`{name}`")
      assert f" | `{group.gin_name}.{name}` | " in _row(section, f"`{name}`")
    settings = problem.default_settings().values()
    if settings:
      section = _section(reference[pages.PROBLEM_SETTINGS], problem_name)
      for name, value in settings.items():
        assert f" | {markdown.code(value)} | " in _row(section, f"`{name}`"), (problem_name,
                                                                              name)
        assert re.search(rf"\| `\w+Settings\.{name}` \|", _row(section, f"`{name}`"))


def test_every_registered_name_is_listed(reference):
  for title, reg in names.REGISTRIES:
    section = _section(reference[pages.NAMES], title)
    for name in reg.names():
      _row(section, f"`{name}`")
  assert "| `bleu` |" in reference[pages.NAMES] and "| `wer` |" in reference[pages.NAMES]


def test_t2t_docs_documents_a_user_directory(tmp_path):
  usr = write_usr_dir(tmp_path / "my_t2t")
  helpers.run("t2t-docs", f"--t2t_usr_dir={usr}", f"--output_dir={tmp_path / 'out'}")
  names_page = (tmp_path / "out" / pages.NAMES).read_text()
  assert "| `letter_doubling` |" in names_page and "| `gru_seq2seq` |" in names_page
  assert "| `transformer` |" not in names_page  # only the directory's own
  hparams_page = (tmp_path / "out" / pages.HPARAMS).read_text()
  assert re.search(r"^## \w+", hparams_page, re.M) and "## batching" not in hparams_page
  assert not (tmp_path / "out" / pages.FLAGS).exists()


def test_t2t_docs_needs_an_output_dir():
  proc = helpers.run("t2t-docs", check=False)
  assert proc.returncode == 2 and "missing --output_dir" in proc.stderr
