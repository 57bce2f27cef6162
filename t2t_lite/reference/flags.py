"""Every installed binary's flags, as absl defines them when the binary's module is imported
(bin/common_flags.define_flags derives them from the option groups, recording each flag's
group), with the declared bounds and gin binding of each.

A binary's flags are read in a process of its own (`python -m t2t_lite.reference.flags
MODULE` prints them as JSON): binaries share absl's global FLAGS, where a flag two binaries
define exists once, so one process cannot tell whose it is.
"""
import dataclasses
import importlib
import json
import subprocess
import sys
from concurrent import futures
from importlib import metadata

from absl import flags

from t2t_lite.errors import UserError
from t2t_lite.reference import markdown


@dataclasses.dataclass(frozen=True)
class Flag:
  name: str
  type: str
  default: object
  help: str
  bounds: str  # the declaration's valid values ("" when it declares none)
  gin: str  # the gin binding the flag is an alias of ("" when none)


def binaries() -> dict[str, str]:
  """{command: module} of t2t_lite's installed console scripts."""
  out = {}
  for entry in metadata.entry_points(group="console_scripts"):
    module = entry.value.split(":")[0]
    if module.startswith("t2t_lite.bin."):
      out[entry.name] = module
  if not out:
    raise UserError("no t2t_lite console scripts are installed; run pip install -e . first")
  return dict(sorted(out.items()))


def collect(commands=None) -> dict[str, list[Flag]]:
  """{command: its flags}, each binary's read in a process of its own (in parallel)."""
  modules = binaries()
  commands = list(commands or modules)
  with futures.ThreadPoolExecutor(max_workers=len(commands)) as pool:
    found = pool.map(lambda c: _read(modules[c]), commands)
    return {c: [Flag(**f) for f in listed] for c, listed in zip(commands, found)}


def _read(module):
  proc = subprocess.run([sys.executable, "-m", __name__, module], capture_output=True,
                        text=True, timeout=600)
  if proc.returncode:
    raise RuntimeError(f"reading the flags of {module} failed:\n{proc.stderr[-3000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _declaration(flag):
  """(bounds, gin binding) of the setting `flag` was defined from (define_flags records
  its group), ("", "") for a flag of no declared setting."""
  group = getattr(flag, "declared_by", None)
  if group is None:
    return "", ""
  declarations = {group.flag_name(n): d for n, _, d, _ in group.declarations()}
  return (markdown.bounds(declarations[flag.name].bounds),
          group.flag_bindings().get(flag.name, ""))


def _dump(module):
  """Prints the flags `module` defines on import as JSON (the child process' job)."""
  importlib.import_module(module)
  out = []
  for owner, defined in flags.FLAGS.flags_by_module_dict().items():
    if not owner.startswith("t2t_lite"):
      continue  # absl's own (--helpfull, --logtostderr, ...)
    for f in defined:
      bounds, gin = _declaration(f)
      help_ = f.help
      choices = getattr(f.parser, "enum_values", None)
      if choices:  # absl writes them in front of the help: "<a|b>: help"
        help_ = help_.removeprefix(f"<{'|'.join(choices)}>: ")
        bounds = bounds or ", ".join(f"`{v}`" for v in choices)
      out.append(dataclasses.asdict(Flag(f.name, f.flag_type(), f.default, help_, bounds,
                                         gin)))
  print(json.dumps(sorted(out, key=lambda f: f["name"])))


if __name__ == "__main__":
  _dump(sys.argv[1])
