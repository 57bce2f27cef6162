"""One row per declared setting of an option group (options.Options): what every generated
table shows of a flag, an hparam, a decode hparam or a problem setting."""
import dataclasses

from t2t_lite.reference import markdown


@dataclasses.dataclass(frozen=True)
class Row:
  name: str
  type: str
  default: object
  bounds: str
  help: str
  eval_time: bool = False


def rows(group, defaults=None) -> list[Row]:
  """The declarations of `group` in declaration order; `defaults` ({name: value}) replaces
  declared defaults (a problem's preset, a binary's)."""
  out = []
  for name, type_, declaration, default in group.declarations():
    if defaults and name in defaults:
      default = defaults[name]
    out.append(Row(name, type_.__name__, default, markdown.bounds(declaration.bounds),
                   declaration.help, declaration.eval_time))
  return out
