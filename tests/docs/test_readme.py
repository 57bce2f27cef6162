"""The README stays a front page: at most 200 lines, its two first commands the ones Get
started runs, and every link into the docs resolves."""
import os
import re

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def _read(path):
  with open(os.path.join(ROOT, path), encoding="utf-8") as f:
    return f.read()


def test_readme_is_short_and_its_commands_are_get_starteds():
  readme = _read("README.md")
  assert len(readme.splitlines()) <= 200
  commands = [l.strip() for l in readme.splitlines() if l.startswith("    pip install -e")]
  first_two = commands[:2]  # install and train; install and test
  assert "t2t-trainer" in first_two[0] and "pytest" in first_two[1]
  assert all(c in _read("docs/getting-started.md") for c in first_two)


def test_readme_links_into_the_docs_resolve():
  links = re.findall(r"\]\(((?:docs/)?[\w/.-]+\.md)\)", _read("README.md"))
  assert len(links) >= 10
  missing = [l for l in links if not os.path.exists(os.path.join(ROOT, l))]
  assert not missing
