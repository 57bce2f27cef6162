"""Data manifests: what datagen wrote, so that missing or damaged data is named at start.

Beside each split's shards, datagen writes `<problem>-<split>.manifest.json`, last and
atomically: every shard's file name, record count, byte size and SHA-256.

  {"format": 1, "problem": "algorithmic_reverse_decimal40", "split": "dev",
   "records": 10000, "bytes": 939114,
   "shards": [{"file": "algorithmic_reverse_decimal40-dev-00000-of-00001",
               "records": 10000, "bytes": 939114, "sha256": "9f2c..."}]}

- Readers (the trainer, decoder and t2t-benchmark, through Problem.data_files) check the
  cheap part whenever they look for a split's files: every listed shard is there with its
  exact size, and no other shard of the split is. File-system metadata only, no data read,
  so a truncated or missing shard is named before the first step rather than when the
  shuffled input reaches it. `--verify_data` adds the full pass: every shard's SHA-256.
- A split is complete when its manifest matches its files. Datagen keeps complete splits
  and rewrites every other one (an interrupted run, a full disk, a damaged copy): the
  manifest goes first, the shards are written under temporary names and renamed, and the
  new manifest comes last, so no state in between looks complete.
- Data written before manifests existed has none. It is still read, with one warning per
  split, if every shard of its `-of-N` set is there and no `.incomplete` file is left;
  rerunning datagen reads each such shard once and records its manifest.
"""
import dataclasses
import hashlib
import json
import os
import re
import sys

import tensorflow as tf

from t2t_lite import options, writer_lock
from t2t_lite.errors import UserError
from t2t_lite.options import setting

FORMAT = 1
SUFFIX = ".manifest.json"
INCOMPLETE = ".incomplete"  # a shard being written (generator_utils.write_shards)
_SHARD_NAME = re.compile(r"-(\d+)-of-(\d+)$")
_READ_CHUNK = 1 << 22


@options.group("DataCheck")
class DataCheckOptions(options.Options):
  """How much of the data a binary checks before it reads any (t2t-trainer, t2t-decoder,
  t2t-benchmark)."""
  verify_data: bool = setting(
      False, "Before the first step, also compare every shard of the splits this run reads "
      "with the SHA-256 its manifest records (reads all of the data once). Without it, "
      "only the shards' presence and sizes are checked.")


@dataclasses.dataclass(frozen=True)
class Shard:
  file: str  # the name inside data_dir
  records: int
  bytes: int
  sha256: str


def manifest_path(data_dir: str, problem_name: str, split: str) -> str:
  return os.path.join(data_dir, f"{problem_name}-{split}{SUFFIX}")


def _shards_on_disk(data_dir, problem_name, split):
  """(finished shard paths, .incomplete paths) of a split, sorted."""
  found = tf.io.gfile.glob(os.path.join(data_dir, f"{problem_name}-{split}-*-of-*"))
  done = sorted(f for f in found if _SHARD_NAME.search(f))
  return done, sorted(f for f in found if f.endswith(INCOMPLETE))


def file_sha256(path: str) -> str:
  digest = hashlib.sha256()
  with tf.io.gfile.GFile(path, "rb") as f:
    while True:
      chunk = f.read(_READ_CHUNK)
      if not chunk:
        return digest.hexdigest()
      digest.update(chunk)


def describe(path: str, records: int, name: str | None = None) -> Shard:
  """A shard's manifest entry: its size and SHA-256 as it is on disk now."""
  return Shard(name or os.path.basename(path), records, tf.io.gfile.stat(path).length,
               file_sha256(path))


def count_records(path: str) -> int:
  """Reads every record (TFRecord checks each one's CRC); DataLossError when damaged."""
  return sum(1 for _ in tf.data.TFRecordDataset(path))


# -- the manifest file --------------------------------------------------------------------
def write(data_dir: str, problem_name: str, split: str, shards: list[Shard]) -> str:
  """Writes the split's manifest atomically (a temporary file, then a rename)."""
  path = manifest_path(data_dir, problem_name, split)
  text = json.dumps({
      "format": FORMAT, "problem": problem_name, "split": split,
      "records": sum(s.records for s in shards), "bytes": sum(s.bytes for s in shards),
      "shards": [dataclasses.asdict(s) for s in shards]}, indent=1)
  tmp = path + INCOMPLETE
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write(text)
  tf.io.gfile.rename(tmp, path, overwrite=True)
  return path


def read(data_dir: str, problem_name: str, split: str) -> list[Shard] | None:
  """The split's shards as its manifest lists them; None when it has no manifest."""
  path = manifest_path(data_dir, problem_name, split)
  if not tf.io.gfile.exists(path):
    return None
  try:
    with tf.io.gfile.GFile(path) as f:
      content = json.load(f)
    return [Shard(**s) for s in content["shards"]]
  except (ValueError, KeyError, TypeError) as e:  # JSON or the entries' fields
    raise UserError(f"the manifest {path} is damaged ({type(e).__name__}: {e}); rerun "
                    f"t2t-datagen --problem={problem_name} --data_dir={data_dir} to rewrite "
                    f"the {split} split") from None


def remove_split(data_dir: str, problem_name: str, split: str) -> None:
  """Deletes a split's manifest (first: the split stops looking complete), its shards and
  the leftovers of an interrupted write."""
  path = manifest_path(data_dir, problem_name, split)
  if tf.io.gfile.exists(path):
    tf.io.gfile.remove(path)
  done, incomplete = _shards_on_disk(data_dir, problem_name, split)
  for f in done + incomplete + tf.io.gfile.glob(path + INCOMPLETE):
    tf.io.gfile.remove(f)


# -- checking -------------------------------------------------------------------------------
def _remedy(problem_name, data_dir, what):
  """What to do about a split that is not complete: rerun datagen, or, while a datagen
  is writing the data_dir right now, wait for it."""
  writer = writer_lock.live_holder(data_dir)
  if writer:
    return f"{writer} is writing {data_dir} now: wait for it to end"
  return f"rerun t2t-datagen --problem={problem_name} --data_dir={data_dir} to {what}"


def _mismatches(data_dir, shards, done):
  """What differs between the manifest's shards and the files (no data read)."""
  found = []
  for s in shards:
    path = os.path.join(data_dir, s.file)
    if not tf.io.gfile.exists(path):
      found.append(f"{s.file} is missing")
      continue
    size = tf.io.gfile.stat(path).length
    if size < s.bytes:
      found.append(f"{s.file} is truncated ({size} of {s.bytes} bytes)")
    elif size != s.bytes:
      found.append(f"{s.file} has {size} bytes, not {s.bytes}")
  listed = {s.file for s in shards}
  found += [f"{os.path.basename(f)} is not in the manifest" for f in done
            if os.path.basename(f) not in listed]
  return found


def _legacy_problems(done, incomplete):
  """Why shards without a manifest cannot be a whole split (empty when they can be)."""
  if incomplete:
    return [f"{os.path.basename(incomplete[0])} is left from a datagen that did not "
            "finish"]
  sets = {}
  for f in done:
    index, total = map(int, _SHARD_NAME.search(f).groups())
    sets.setdefault(total, set()).add(index)
  if len(sets) > 1:
    return [f"shards of {len(sets)} different sets (-of-{', -of-'.join(map(str, sorted(sets)))})"
            " are mixed"]
  ((total, indices),) = sets.items()
  missing = sorted(set(range(total)) - indices)
  return [f"shard {missing[0]} of {total} is missing" + (
      f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")] if missing else []


_warned = set()


def _warn_once(key, message):
  if key not in _warned:
    _warned.add(key)
    # stderr: a decoder's stdout is its output.
    print(f"WARNING: {message}", file=sys.stderr, flush=True)


def split_files(data_dir: str, problem_name: str, split: str) -> list[str]:
  """The split's shard paths, after the cheap check against its manifest (sizes and
  names, no data read). [] when the split has no data at all. Raises UserError naming
  every shard that is missing, truncated or not in the manifest."""
  shards = read(data_dir, problem_name, split)
  done, incomplete = _shards_on_disk(data_dir, problem_name, split)
  if shards is None:
    if not done:
      return []
    problems = _legacy_problems(done, incomplete)
    if problems:
      raise UserError(f"the {split} data of problem '{problem_name}' in {data_dir} is "
                      f"incomplete: {problems[0]}; "
                      f"{_remedy(problem_name, data_dir, 'rewrite the split')}")
    _warn_once((data_dir, problem_name, split),
               f"the {split} data of problem '{problem_name}' in {data_dir} has no manifest "
               "(it was written before t2t-datagen recorded one), so damaged shards cannot "
               f"be named at start; {_remedy(problem_name, data_dir, 'record it')}")
    return done
  problems = _mismatches(data_dir, shards, done)
  if problems:
    more = f" (and {len(problems) - 4} more)" if len(problems) > 4 else ""
    raise UserError(f"the {split} data of problem '{problem_name}' in {data_dir} does not "
                    f"match its manifest: {', '.join(problems[:4])}{more}; "
                    f"{_remedy(problem_name, data_dir, 'rewrite the split')}")
  return [os.path.join(data_dir, s.file) for s in shards]


def verify(data_dir: str, problem_name: str, split: str, log=print) -> None:
  """The full pass: every shard's SHA-256 against the manifest (after the cheap check)."""
  if read(data_dir, problem_name, split) is None:
    if not _shards_on_disk(data_dir, problem_name, split)[0]:
      return  # no data: the binary's own check says what to run
    raise UserError(f"--verify_data: the {split} data of problem '{problem_name}' in "
                    f"{data_dir} has no manifest to verify against; "
                    f"{_remedy(problem_name, data_dir, 'record one')}")
  split_files(data_dir, problem_name, split)
  shards = read(data_dir, problem_name, split)
  bad = [s.file for s in shards if file_sha256(os.path.join(data_dir, s.file)) != s.sha256]
  if bad:
    raise UserError(f"--verify_data: {', '.join(bad[:4])} of problem '{problem_name}' in "
                    f"{data_dir} differ{'s' if len(bad) == 1 else ''} from the SHA-256 in the "
                    f"manifest (damaged or replaced); "
                    f"{_remedy(problem_name, data_dir, f'rewrite the {split} split')}")
  log(f"verified {len(shards)} {split} shard(s) of {problem_name}: "
      f"{sum(s.records for s in shards)} records, SHA-256 as written")


def is_complete(data_dir: str, problem_name: str, split: str) -> bool:
  """Whether the split has a manifest that its files match (datagen keeps it then)."""
  try:
    shards = read(data_dir, problem_name, split)
  except UserError:
    return False
  done, _ = _shards_on_disk(data_dir, problem_name, split)
  return shards is not None and not _mismatches(data_dir, shards, done)


def has_files(data_dir: str, problem_name: str, split: str) -> bool:
  """Whether any file of the split is there (a shard, a manifest, a leftover)."""
  done, incomplete = _shards_on_disk(data_dir, problem_name, split)
  path = manifest_path(data_dir, problem_name, split)
  return bool(done or incomplete or tf.io.gfile.glob(path + "*"))


def legacy_shards(data_dir: str, problem_name: str, split: str) -> list[str]:
  """The shards of a split written before manifests existed, when they form a whole set
  (every -of-N index, no .incomplete left); [] otherwise."""
  if tf.io.gfile.exists(manifest_path(data_dir, problem_name, split)):
    return []
  done, incomplete = _shards_on_disk(data_dir, problem_name, split)
  return done if done and not _legacy_problems(done, incomplete) else []


def fingerprint(data_dir: str, problem_name: str, split: str) -> dict:
  """What a run records of the data it read (run.json): counts, sizes and the manifest's
  own SHA-256, which names every shard's checksum. Records are unknown without one."""
  path = manifest_path(data_dir, problem_name, split)
  shards = read(data_dir, problem_name, split)
  if shards is None:
    files = _shards_on_disk(data_dir, problem_name, split)[0]
    return {"files": len(files), "records": None,
            "bytes": sum(tf.io.gfile.stat(f).length for f in files), "manifest_sha256": None}
  return {"files": len(shards), "records": sum(s.records for s in shards),
          "bytes": sum(s.bytes for s in shards), "manifest_sha256": file_sha256(path)}
