"""The declared option groups (options.Options), and one row per declared setting of a
group: what every generated table shows of a flag, an hparam, a decode hparam or a problem
setting."""
import dataclasses

from t2t_lite import options
from t2t_lite.reference import markdown


def groups() -> list[type]:
  """Every option group declared in the modules imported so far (options.group,
  options.hparams_group), not those composed of them (a problem's settings)."""
  def subclasses(cls):
    for sub in cls.__subclasses__():
      yield sub
      yield from subclasses(sub)
  return [g for g in dict.fromkeys(subclasses(options.Options))
          if not g.composed and g is not options.HParamsGroup]  # the base of hparams groups


@dataclasses.dataclass(frozen=True)
class Row:
  name: str
  type: str
  default: object
  bounds: str
  help: str
  eval_time: bool = False
  gin: str = ""  # its gin binding, Group.name


def _declared_by(group, name):
  """The declared group a setting of `group` is bound under (one of a composed group's
  parts, else the group)."""
  for part in group.parts:
    if name in {f.name for f in dataclasses.fields(part)}:
      return part
  return group


def rows(group, defaults=None) -> list[Row]:
  """The declarations of `group` in declaration order; `defaults` ({name: value}) replaces
  declared defaults (a problem's preset, a binary's)."""
  out = []
  for name, type_, declaration, default in group.declarations():
    if defaults and name in defaults:
      default = defaults[name]
    out.append(Row(name, type_.__name__, default, markdown.bounds(declaration.bounds),
                   declaration.help, declaration.eval_time,
                   f"{_declared_by(group, name).gin_name}.{name}"))
  return out
