"""Every shell and Python block of the docs runs (tests/docs/blocks.py says how): a page's
blocks in order in one shell, with their declared smaller settings; the blocks that cannot
run here say why."""
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.docs import blocks

PAGES = blocks.pages()
RUNNABLE = sorted(p for p, bs in PAGES.items() if any(b.skip_reason is None for b in bs))


def test_every_marker_applies_and_every_skip_says_why():
  for page_blocks in PAGES.values():
    for b in page_blocks:
      if b.skip_reason is not None:
        assert len(b.skip_reason) > 10, f"{b.page}:{b.line}: say why it cannot run here"
      else:
        b.script()  # raises when a smaller setting names a binary the block does not run


def test_a_smaller_setting_replaces_or_adds_flags():
  body = ("t2t-trainer --problem=p \\\n    --train_steps=5000   # the long run\n"
          "t2t-decoder --output_dir=runs/x\n")
  out = blocks.apply_setting(body, "t2t-trainer --train_steps=20 --local_eval_frequency=20",
                             "here")
  assert out == ("t2t-trainer --problem=p \\\n    --train_steps=20 --local_eval_frequency=20"
                 "   # the long run\nt2t-decoder --output_dir=runs/x\n")
  with pytest.raises(ValueError, match="does not run"):
    blocks.apply_setting(body, "t2t-exporter --n=1", "here")


def _shared(request, name):
  value = request.getfixturevalue(name)
  return value if isinstance(value, str) else value["out"]


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE)
def test_page_blocks_run(page, tmp_path, request):
  for path, name in blocks.setup(page).items():
    shutil.copytree(_shared(request, name), tmp_path / path.removeprefix("~/"))
  script = ["set -euo pipefail"]
  for b in PAGES[page]:
    if b.skip_reason is None:
      script += [f"echo '== {b.page}:{b.line}' >&2", b.script()]
  env = {**os.environ, "HOME": str(tmp_path),
         "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
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
