"""Markdown for the generated pages: tables of declarations."""
import math

from t2t_lite.hparams_lib import Bounds


def code(value) -> str:
  """A value as inline code (`None` shows as an em dash: no value)."""
  if value is None:
    return "—"
  if isinstance(value, float) and math.isfinite(value):
    value = f"{value:g}"
  elif isinstance(value, bool):
    value = str(value).lower()
  text = str(value).replace("|", "\\|")
  return f"`{text}`" if text else '`""`'


def cell(text) -> str:
  """Free text in a table cell: one line, with pipes escaped."""
  return " ".join(str(text).split()).replace("|", "\\|")


def bounds(b: Bounds) -> str:
  """The valid values beside the type, as a user reads them: `>= 1`, `>= 0, < 1`, a list of
  choices; `also` values after "or"."""
  if b.choices:
    return ", ".join(code(c) for c in b.choices)
  parts = [f"{sign} {_num(v)}" for sign, v in ((">=", b.minimum), (">", b.above),
                                               ("<=", b.maximum), ("<", b.below))
           if v is not None]
  return ", ".join(parts) + "".join(f" or {_num(a)}" for a in b.also)


def _num(x) -> str:
  return str(int(x)) if float(x).is_integer() else f"{x:g}"


def table(header, rows) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(row) + " |" for row in rows]
  return "\n".join(lines)
