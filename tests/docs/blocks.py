"""The shell and Python blocks of the docs, and how the test suite runs each.

A fenced ```bash or ```python block runs as written unless HTML comments on the lines
before it say otherwise (MkDocs drops them from the page):

  <!-- test: skip: REASON -->                        not runnable here (a GPU, Kubernetes, a
                                                     download...), and why
  <!-- test: t2t-trainer --train_steps=20 ... -->    a smaller setting: in each command of
                                                     that binary, each flag given replaces
                                                     the block's value, or is added (a flag
                                                     given twice is added twice); one such
                                                     line per binary the block runs
  <!-- test: replace: OLD => NEW -->                 a smaller setting inside a block's
                                                     text (a heredoc's TOML, a Python
                                                     argument): OLD, which must occur,
                                                     becomes NEW
  <!-- test: outside CI: REASON -->                  runnable here, but beyond CI's time
                                                     budget (REASON: its cost): runs with
                                                     T2T_DOCS_ALL_BLOCKS=1 (on a line of its
                                                     own, with any smaller settings)

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
_SKIP = "skip:"
_REPLACE = "replace:"
_PIP_INSTALL = re.compile(r'^pip install (?:-e |"t2t-lite\[)[^&\n]*(?:&& |\n)', re.M)
_SETUP = re.compile(r"<!-- test-setup: (.*?) -->")


@dataclasses.dataclass(frozen=True)
class Block:
  page: str
  line: int
  lang: str
  body: str
  skip_reason: str | None = None
  settings: tuple[str, ...] = ()  # "BINARY --flag=value ...", one per binary
  replacements: tuple[tuple[str, str], ...] = ()  # (OLD, NEW) in the block's text
  outside_ci_reason: str | None = None

  @property
  def smaller(self):
    return bool(self.settings or self.replacements)

  def runs(self, all_blocks=False) -> bool:
    """Whether the tests run it: in CI, or with all_blocks (T2T_DOCS_ALL_BLOCKS=1)."""
    return self.skip_reason is None and (all_blocks or self.outside_ci_reason is None)

  def script(self) -> str:
    """The block as it runs: with its smaller settings applied."""
    where = f"{self.page}:{self.line}"
    body = _PIP_INSTALL.sub("", self.body)
    for old, new in self.replacements:
      if old not in body:
        raise ValueError(f"{where}: the test marker replaces {old!r}, which the block lacks")
      body = body.replace(old, new)
    for setting in self.settings:
      body = apply_setting(body, setting, where)
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
  line = text.count("\n", 0, match.start()) + 1
  where = f"{page}:{line}"
  kinds = {_OUTSIDE_CI: [], _SKIP: [], _REPLACE: [], "": []}
  for marker in markers:
    kind = next((k for k in kinds if k and marker.startswith(k)), "")
    kinds[kind].append(marker[len(kind):].strip())
  if len(kinds[_OUTSIDE_CI]) > 1 or len(kinds[_SKIP]) > 1:
    raise ValueError(f"{where}: at most one 'outside CI' marker and one 'skip'")
  if kinds[_SKIP] and (kinds[""] or kinds[_REPLACE] or kinds[_OUTSIDE_CI]):
    raise ValueError(f"{where}: a skipped block has no other marker")
  replacements = []
  for replacement in kinds[_REPLACE]:
    old, sep, new = replacement.partition(" => ")
    if not sep:
      raise ValueError(f"{where}: write 'replace: OLD => NEW'")
    replacements.append((old, new))
  return Block(page, line + len(markers), match.group("lang"), match.group("body"),
               skip_reason=kinds[_SKIP][0] if kinds[_SKIP] else None,
               settings=tuple(kinds[""]), replacements=tuple(replacements),
               outside_ci_reason=kinds[_OUTSIDE_CI][0] if kinds[_OUTSIDE_CI] else None)


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
  continues over lines ending in a backslash), each flag replaces its value or is added; a
  flag given more than once (--gin_param=A --gin_param=B) is added each time."""
  binary, *given = shlex.split(marker)
  names = [flag.split("=", 1)[0] for flag in given]
  commands = re.split(r"(?<!\\)\n", body)
  found = False
  for i, command in enumerate(commands):
    if not re.match(rf"^(?:.*&& )?{re.escape(binary)}\b", command.strip()):
      continue
    found = True
    for flag, name in zip(given, names):
      pattern = rf"{re.escape(name)}=(?:\"[^\"]*\"|'[^']*'|\S+)"
      if names.count(name) == 1 and re.search(pattern, command):
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
