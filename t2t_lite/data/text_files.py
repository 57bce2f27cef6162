"""Reading a user's corpus files, with errors that name the file and line.

Parallel text comes as a TSV (source<TAB>target per line) or as two line-aligned files;
monolingual text as lines of one or more files (glob patterns). Files are checked in full
before any example is yielded, so a bad line fails datagen before anything is written.
"""
import os
import zlib

import tensorflow as tf

from t2t_lite import options
from t2t_lite.data.problem import ProblemSettings
from t2t_lite.errors import UserError
from t2t_lite.options import setting


@options.group("DevSplitSettings")
class DevSplitSettings(ProblemSettings):
  dev_fraction: float = setting(0.02, "without dev files: this fraction of the training "
                                "examples (chosen by a hash of each) is the dev split",
                                minimum=0, below=1)


def numbered_lines(path, setting):
  """(line number, text) of a UTF-8 text file, without line ends."""
  if not tf.io.gfile.exists(path):
    raise UserError(f"{setting}={path} does not exist")
  if tf.io.gfile.isdir(path):
    raise UserError(f"{setting}={path} is a directory; give a text file")
  with tf.io.gfile.GFile(path, "rb") as f:
    for number, raw in enumerate(f, 1):
      try:
        text = raw.decode("utf-8")
      except UnicodeDecodeError as e:
        raise UserError(f"{path} line {number} is not UTF-8 (byte {e.start + 1}); convert the "
                        "file to UTF-8 (e.g. iconv -t UTF-8)") from None
      yield number, text.rstrip("\r\n")


def count_lines(path, setting):
  return sum(1 for _ in numbered_lines(path, setting))


def read_tsv_pairs(path, setting):
  """Yields (source, target) of each line of a TSV file."""
  for number, line in numbered_lines(path, setting):
    if "\t" not in line:
      raise UserError(f"{path} line {number} has no TAB between source and target")
    source, target = line.split("\t", 1)
    if "\t" in target:
      raise UserError(f"{path} line {number} has more than one TAB; expected "
                      "source<TAB>target")
    _check_not_empty(path, number, source, target)
    yield source.strip(), target.strip()


def read_aligned_pairs(source_path, target_path, source_setting, target_setting):
  """Yields (source, target) from two line-aligned files."""
  n_source = count_lines(source_path, source_setting)
  n_target = count_lines(target_path, target_setting)
  if n_source != n_target:
    raise UserError(f"{source_path} has {n_source} lines but {target_path} has {n_target}; "
                    "the files must be line-aligned translations of each other")
  sources = numbered_lines(source_path, source_setting)
  targets = numbered_lines(target_path, target_setting)
  for (number, source), (_, target) in zip(sources, targets):
    if not source.strip():
      raise UserError(f"{source_path} line {number} is empty (its translation: "
                      f"'{target[:40]}'); remove the pair or fill it in")
    if not target.strip():
      raise UserError(f"{target_path} line {number} is empty (its source: "
                      f"'{source[:40]}'); remove the pair or fill it in")
    yield source.strip(), target.strip()


def _check_not_empty(path, number, source, target):
  for side, text in (("source", source), ("target", target)):
    if not text.strip():
      raise UserError(f"{path} line {number} has an empty {side}; remove the line or fill "
                      "it in")


def expand_patterns(patterns, setting):
  """Files matching comma-separated glob patterns, sorted; each pattern must match."""
  files = []
  for pattern in (p.strip() for p in patterns.split(",") if p.strip()):
    matched = sorted(tf.io.gfile.glob(os.path.expanduser(pattern)))
    if not matched:
      raise UserError(f"{setting}: no file matches {pattern}")
    files.extend(matched)
  return files


def read_text_lines(paths, setting):
  """Yields the non-empty lines of several files (blank lines separate, they are not
  examples)."""
  for path in paths:
    for _, line in numbered_lines(path, setting):
      if line.strip():
        yield line.strip()


def validated(pairs_fn):
  """Runs a reader once to the end (so a bad line anywhere fails first), then returns a
  fresh one."""
  for _ in pairs_fn():
    pass
  return pairs_fn()


def in_dev_split(text, dev_fraction):
  """Deterministic dev membership from the text itself: the same pair always lands in the
  same split, whatever the file order, and duplicates never straddle train and dev."""
  return zlib.crc32(text.encode("utf-8")) % 10000 < dev_fraction * 10000
