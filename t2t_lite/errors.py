"""The one exception type for mistakes a user can fix.

Binaries catch `UserError` and print its message as one line (no traceback), then exit
non-zero. Anything else is a bug in t2t_lite and keeps its traceback.
"""
import difflib


class UserError(Exception):
  """A problem with the user's command line, files or configuration."""


def closest(name, candidates, n=3):
  """The registered names closest to `name`, for 'did you mean' messages."""
  candidates = sorted(candidates)
  found = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
  if not found:  # fall back on shared prefixes/substrings, still never the whole list
    found = [c for c in candidates if name and (name in c or c in name)][:n]
  return found


def suggestion(name, candidates):
  near = closest(name, candidates)
  return f"; did you mean {', '.join(near)}?" if near else ""
