"""The shell and Python blocks of the docs, and how the test suite runs each.

A fenced ```bash or ```python block runs as written unless an HTML comment on the line
before it says otherwise (MkDocs drops the comment from the page):

  <!-- test: skip: REASON -->                        not runnable here (a GPU, Kubernetes, a
                                                     download...), and why
  <!-- test: t2t-trainer --train_steps=20 ... -->    a smaller setting: in each command of
                                                     that binary, each flag given replaces
                                                     the block's value, or is added
  <!-- test: outside CI: REASON -->                  runnable here, but beyond CI's time
                                                     budget (REASON: its cost): runs with
                                                     T2T_DOCS_ALL_BLOCKS=1 (on a line of its
                                                     own, before or after a smaller setting)

and a page may declare, anywhere, what its blocks start from: the reader's own data and
runs, which the tests provide as session-wide fixtures (tests/docs/conftest.py), each
copied to the path the page uses, `<!-- test-setup: PATH=FIXTURE PATH=FIXTURE:KEY -->`:

  ~/t2t_data=data_dir              the folder a fixture names (a path, or a dict's "out")
  runs/enxx=translation            a trained run (tests/bin/conftest.py builds it once)
  test.en=text_corpus:test.en      one entry of a fixture's dict: a file or a folder

A page's blocks run in order, in one shell, in a temporary directory that is also $HOME
(so `~/t2t_data` lands there); python blocks run as `python3 -` inside that shell.
Output shown after a command belongs in its own ```text block. `pip install` of this
package (`pip install -e .`, `pip install "t2t-lite[extra]"`) is the one command not run:
the test environment is that install (CI runs it).
"""
import dataclasses
import glob
import os
import re
import shlex

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs")
_BLOCK = re.compile(r"^(?P<markers>(?:<!-- test: .*? -->\n)*)```(?P<lang>bash|python)\n"
                    r"(?P<body>.*?)^```$", re.M | re.S)
_MARKER = re.compile(r"<!-- test: (.*?) -->")
_OUTSIDE_CI = "outside CI:"
_PIP_INSTALL = re.compile(r'^pip install (?:-e |"t2t-lite\[)[^&\n]*(?:&& |\n)', re.M)
_SETUP = re.compile(r"<!-- test-setup: (.*?) -->")


@dataclasses.dataclass(frozen=True)
class Block:
  page: str
  line: int
  lang: str
  body: str
  marker: str  # "" (as written), "skip: reason", or "BINARY --flag=value ..."
  outside_ci_reason: str | None = None

  @property
  def skip_reason(self):
    return self.marker[len("skip:"):].strip() if self.marker.startswith("skip:") else None

  @property
  def smaller(self):
    return bool(self.marker) and self.skip_reason is None

  def runs(self, all_blocks=False) -> bool:
    """Whether the tests run it: in CI, or with all_blocks (T2T_DOCS_ALL_BLOCKS=1)."""
    return self.skip_reason is None and (all_blocks or self.outside_ci_reason is None)

  def script(self) -> str:
    """The block as it runs: with its smaller setting applied."""
    body = _PIP_INSTALL.sub("", self.body)
    if self.smaller:
      body = apply_setting(body, self.marker, f"{self.page}:{self.line}")
    if self.lang == "python":
      return f"python3 - <<'PYTHON_BLOCK'\n{body}PYTHON_BLOCK\n"
    return body


def pages() -> dict[str, list[Block]]:
  """{page (relative to docs/): its blocks in order}."""
  out = {}
  for path in sorted(glob.glob(os.path.join(DOCS, "**", "*.md"), recursive=True)):
    page = os.path.relpath(path, DOCS)
    text = open(path, encoding="utf-8").read()
    out[page] = [_block(page, text, m) for m in _BLOCK.finditer(text)]
  return out


def _block(page, text, match):
  markers = [m.strip() for m in _MARKER.findall(match.group("markers"))]
  outside = [m[len(_OUTSIDE_CI):].strip() for m in markers if m.startswith(_OUTSIDE_CI)]
  others = [m for m in markers if not m.startswith(_OUTSIDE_CI)]
  line = text.count("\n", 0, match.start()) + 1
  if len(outside) > 1 or len(others) > 1:
    raise ValueError(f"{page}:{line}: at most one 'outside CI' marker and one other")
  return Block(page, line + len(markers), match.group("lang"), match.group("body"),
               others[0] if others else "", outside[0] if outside else None)


def setup(page) -> dict[str, str]:
  """{path in the page's directory: FIXTURE or FIXTURE:KEY} the page declares."""
  text = open(os.path.join(DOCS, page), encoding="utf-8").read()
  out = {}
  for declared in _SETUP.findall(text):
    for item in declared.split():
      path, name = item.split("=", 1)
      out[path] = name
  return out


def apply_setting(body, marker, where):
  """`marker` is 'BINARY --flag=value ...': in every command of BINARY in `body` (a command
  continues over lines ending in a backslash), each flag replaces its value or is added."""
  binary, *given = shlex.split(marker)
  commands = re.split(r"(?<!\\)\n", body)
  found = False
  for i, command in enumerate(commands):
    if not re.match(rf"^(?:.*&& )?{re.escape(binary)}\b", command.strip()):
      continue
    found = True
    for flag in given:
      name = flag.split("=", 1)[0]
      pattern = rf"{re.escape(name)}=(?:\"[^\"]*\"|'[^']*'|\S+)"
      if re.search(pattern, command):
        command = re.sub(pattern, lambda _, f=flag: shlex.quote(f), command)
      else:
        comment = re.search(r"\s+#[^\"']*$", command)  # a trailing comment stays last
        at = comment.start() if comment else len(command)
        command = f"{command[:at]} {shlex.quote(flag)}{command[at:]}"
    commands[i] = command
  if not found:
    raise ValueError(f"{where}: the test marker names {binary}, which the block does not run")
  return "\n".join(commands)


def counts() -> dict:
  """{"as written": n, "smaller setting": n, "outside CI": {reason: n},
  "not runnable": {reason: n}}."""
  out = {"as written": 0, "smaller setting": 0, "outside CI": {}, "not runnable": {}}
  for blocks in pages().values():
    for b in blocks:
      if b.skip_reason is not None:
        out["not runnable"][b.skip_reason] = out["not runnable"].get(b.skip_reason, 0) + 1
      elif b.outside_ci_reason is not None:
        reason = b.outside_ci_reason
        out["outside CI"][reason] = out["outside CI"].get(reason, 0) + 1
      else:
        as_written = not b.smaller and not _PIP_INSTALL.search(b.body)
        out["as written" if as_written else "smaller setting"] += 1
  return out
