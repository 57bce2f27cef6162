"""Every installed binary's flags, as absl defines them when the binary's module is imported
(bin/common_flags.define_flags derives them from the option groups, recording each flag's
group), with the declared bounds and gin binding of each.

A binary's flags are read in a process of its own: binaries share absl's global FLAGS,
where a flag two binaries define exists once, so one process cannot tell whose it is.
`python -m t2t_lite.reference.flags MODULE...` imports what every binary imports
(TensorFlow, Keras, the experiment) once, then forks a child per binary that imports the
binary's module and sends its flags back as JSON; it prints {module: flags}. (Forking
after TensorFlow's import is safe: its runtime starts with the first op.)
"""
import dataclasses
import importlib
import json
import os
import subprocess
import sys
import traceback
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
  """{command: its flags}, each binary's read in a process of its own."""
  modules = binaries()
  commands = list(commands or modules)
  proc = subprocess.run([sys.executable, "-m", __name__, *(modules[c] for c in commands)],
                        capture_output=True, text=True, timeout=600)
  if proc.returncode:
    raise RuntimeError(f"reading the binaries' flags failed:\n{proc.stderr[-3000:]}")
  found = json.loads(proc.stdout.strip().splitlines()[-1])
  return {c: [Flag(**f) for f in found[modules[c]]] for c in commands}


def _dump_each(modules):
  """Prints {module: its flags} as JSON, each module's read in a fork of this process."""
  for shared in ("tensorflow", "keras", "t2t_lite.experiment"):  # the slow imports, once
    importlib.import_module(shared)
  out = {}
  for module in modules:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
      os.close(read)
      code = 0
      try:
        with os.fdopen(write, "w") as pipe:
          json.dump(_flags_of(module), pipe)
      except BaseException:  # noqa: BLE001 (reported by the parent, with the traceback)
        traceback.print_exc()
        code = 1
      sys.stdout.flush()
      os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
      text = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status:
      raise RuntimeError(f"reading the flags of {module} failed (status {status})")
    out[module] = json.loads(text)
  print(json.dumps(out))


def _declaration(flag):
  """(bounds, gin binding) of the setting `flag` was defined from (define_flags records
  its group), ("", "") for a flag of no declared setting."""
  group = getattr(flag, "declared_by", None)
  if group is None:
    return "", ""
  declarations = {group.flag_name(n): d for n, _, d, _ in group.declarations()}
  return (markdown.bounds(declarations[flag.name].bounds),
          group.flag_bindings().get(flag.name, ""))


def _flags_of(module):
  """The flags `module` defines on import (a forked child's job)."""
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
  return sorted(out, key=lambda f: f["name"])


if __name__ == "__main__":
  _dump_each(sys.argv[1:])
