"""Every shell and Python block of the docs runs (tests/docs/blocks.py says how): a page's
blocks in order in one shell, with their declared smaller settings; the blocks that cannot
run here say why."""
import os
import shutil
import signal
import subprocess
import sys

import pytest

from t2t_lite import machine
from tests.bin import helpers
from tests.docs import blocks
from tests.docs import conftest as docs_fixtures

PAGES = blocks.pages()
# The blocks marked `outside CI` too (they cost more than CI's budget has room for).
ALL_BLOCKS = os.environ.get("T2T_DOCS_ALL_BLOCKS") == "1"
RUNNABLE = sorted(p for p, bs in PAGES.items() if any(b.runs(ALL_BLOCKS) for b in bs))


def test_every_marker_applies_and_every_skip_says_why():
  for page_blocks in PAGES.values():
    for b in page_blocks:
      reason = b.skip_reason or b.outside_ci_reason
      if reason is not None:
        assert len(reason) > 10, f"{b.page}:{b.line}: say why it does not run in CI"
      else:
        b.script()  # raises when a smaller setting names a binary the block does not run


def test_every_setup_names_a_fixture_of_the_docs_tests():
  for page in PAGES:
    for path, source in blocks.setup(page).items():
      assert hasattr(docs_fixtures, source.partition(":")[0]), (
          f"{page}: test-setup {path}={source} names no fixture of tests/docs/conftest.py")


def test_a_smaller_setting_replaces_or_adds_flags():
  body = ("t2t-trainer --problem=p \\\n    --train_steps=5000   # the long run\n"
          "t2t-decoder --output_dir=runs/x\n")
  out = blocks.apply_setting(body, "t2t-trainer --train_steps=20 --local_eval_frequency=20",
                             "here")
  assert out == ("t2t-trainer --problem=p \\\n    --train_steps=20 --local_eval_frequency=20"
                 "   # the long run\nt2t-decoder --output_dir=runs/x\n")
  with pytest.raises(ValueError, match="does not run"):
    blocks.apply_setting(body, "t2t-exporter --n=1", "here")


def test_an_outside_ci_block_may_have_a_smaller_setting_and_runs_with_all_blocks():
  text = ("<!-- test: outside CI: two exports -->\n<!-- test: t2t-exporter --n=1 -->\n"
          "```bash\nt2t-exporter --n=5\n```\n")
  [b] = [blocks._block("p.md", text, m) for m in blocks._BLOCK.finditer(text)]
  assert (b.line, b.outside_ci_reason, b.script()) == (3, "two exports", "t2t-exporter --n=1\n")
  assert not b.runs() and b.runs(all_blocks=True)


def _shared(request, source):
  """The path a test-setup source names: FIXTURE (its folder, or its dict's "out") or
  FIXTURE:KEY (an entry of its dict)."""
  name, _, key = source.partition(":")
  value = request.getfixturevalue(name)
  return value[key] if key else value if isinstance(value, str) else value["out"]


def _copy(source, target):
  target.parent.mkdir(parents=True, exist_ok=True)
  if os.path.isdir(source):
    shutil.copytree(source, target, symlinks=True)
  else:
    shutil.copy(source, target)


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE)
def test_page_blocks_run(page, tmp_path, request):
  for path, source in blocks.setup(page).items():
    _copy(_shared(request, source), tmp_path / path.removeprefix("~/"))
  script = ["set -euo pipefail"]
  for b in PAGES[page]:
    if b.runs(ALL_BLOCKS):
      script += [f"echo '== {b.page}:{b.line}' >&2", b.script()]
  # $HOME is the page's folder (so ~/t2t_data lands there), but t2t_lite's cache stays the
  # session's: without it every page compiled the custom ops (~13 s of CPU each) and
  # measured the machine again. The t2t-* commands start through the fork server
  # (tests/forkserver.py: the same binaries, without ~7 s of imports each).
  launchers = [os.path.dirname(helpers.launcher("t2t-trainer")[0])] if helpers.FORK else []
  env = {**os.environ, "HOME": str(tmp_path),
         machine.CACHE_ENV: os.path.dirname(machine.cache_path()),
         "PATH": os.pathsep.join(launchers + [os.path.dirname(sys.executable),
                                              os.environ["PATH"]])}
  # A session of its own: on a timeout the page's commands are stopped with the shell.
  proc = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True)
  try:
    stdout, stderr = proc.communicate(timeout=900)
  except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    stdout, stderr = proc.communicate()
  assert proc.returncode == 0, f"{stdout[-2000:]}\n{stderr[-4000:]}"


def test_a_block_takes_one_setting_per_binary_and_replacements_in_its_text():
  text = ("<!-- test: replace: trials = 12 => trials = 3 -->\n"
          "<!-- test: t2t-sweep --gin_param=a=1 --gin_param=b=2 -->\n"
          "<!-- test: t2t-datagen --problem=q -->\n"
          "```bash\nt2t-datagen --problem=p\ncat > s.toml <<'T'\ntrials = 12\nT\n"
          "t2t-sweep --sweep_file=s.toml\n```\n")
  [b] = [blocks._block("p.md", text, m) for m in blocks._BLOCK.finditer(text)]
  assert b.smaller and b.runs()
  assert b.script() == ("t2t-datagen --problem=q\ncat > s.toml <<'T'\ntrials = 3\nT\n"
                        "t2t-sweep --sweep_file=s.toml --gin_param=a=1 --gin_param=b=2\n")
  missing = text.replace("trials = 12\n", "")
  [b] = [blocks._block("p.md", missing, m) for m in blocks._BLOCK.finditer(missing)]
  with pytest.raises(ValueError, match="replaces 'trials = 12', which the block lacks"):
    b.script()
  skipped = "<!-- test: skip: a GPU -->\n<!-- test: t2t-x --a=1 -->\n```bash\nt2t-x\n```\n"
  with pytest.raises(ValueError, match="a skipped block has no other marker"):
    [blocks._block("p.md", skipped, m) for m in blocks._BLOCK.finditer(skipped)]
