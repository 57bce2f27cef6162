"""Kubernetes manifests as block YAML, without a YAML library at run time.

Manifests are dicts, lists, strings, integers and booleans. Strings are written plain when
no YAML reader could take them for anything else (a number, a boolean, null, a mapping),
and otherwise double-quoted with JSON's escapes, which YAML's double-quoted scalars accept.
"""
import json
import re

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*$")
# Words YAML 1.1 readers (PyYAML, kubectl's) take for booleans or null.
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def scalar(value) -> str:
  if isinstance(value, bool):
    return "true" if value else "false"
  if value is None:
    return "null"
  if isinstance(value, (int, float)):
    return repr(value)
  text = str(value)
  if _PLAIN.match(text) and text.lower() not in _RESERVED:
    return text
  return json.dumps(text, ensure_ascii=False)


def _lines(value, indent):
  pad = " " * indent
  if isinstance(value, dict):
    for key, item in value.items():
      if isinstance(item, (dict, list)) and item:
        yield f"{pad}{scalar(key)}:"
        yield from _lines(item, indent + 2 if isinstance(item, dict) else indent)
      else:
        yield f"{pad}{scalar(key)}: {_inline(item)}"
  else:
    for item in value:
      if isinstance(item, (dict, list)) and item:
        block = list(_lines(item, indent + 2))
        yield f"{pad}- {block[0].lstrip()}"
        yield from block[1:]
      else:
        yield f"{pad}- {_inline(item)}"


def _inline(value):
  if isinstance(value, dict):
    return "{}"
  if isinstance(value, list):
    return "[]"
  return scalar(value)


def dump(document: dict) -> str:
  """One YAML document."""
  return "\n".join(_lines(document, 0)) + "\n"


def dump_all(documents: list[dict]) -> str:
  """Several documents in one file, separated by ---."""
  return "---\n".join(dump(d) for d in documents)
