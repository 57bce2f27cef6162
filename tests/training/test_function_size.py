"""The training package stays readable: no function or method over 40 lines, and the
controller (trainer.py) under 250 (issue 27's figures, checked so they stay true)."""
import ast
import pathlib

import t2t_lite.training

PACKAGE = pathlib.Path(t2t_lite.training.__file__).parent
MAX_FUNCTION_LINES = 40
MAX_CONTROLLER_LINES = 250


def _functions(path):
  tree = ast.parse(path.read_text(), filename=str(path))
  for node in ast.walk(tree):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      start = min([node.lineno] + [d.lineno for d in node.decorator_list])
      yield node.name, node.lineno, node.end_lineno - start + 1


def test_no_function_in_the_training_package_is_over_40_lines():
  modules = sorted(PACKAGE.rglob("*.py"))
  assert len(modules) > 20  # the package itself, not an empty directory
  too_long = [f"{path.relative_to(PACKAGE)}:{line} {name} ({lines} lines)"
              for path in modules for name, line, lines in _functions(path)
              if lines > MAX_FUNCTION_LINES]
  assert too_long == []


def test_the_controller_is_under_250_lines():
  lines = len((PACKAGE / "trainer.py").read_text().splitlines())
  assert lines < MAX_CONTROLLER_LINES
