"""Settings named inside one flag's 'name=value,...' string: --decode_hparams (each
problem's decoder declares its own, DECODE_HPARAMS) and --problem_settings (each problem's
SETTINGS, with the problem's preset of their defaults)."""
import dataclasses

from t2t_lite import registry
from t2t_lite.reference import declarations


@dataclasses.dataclass(frozen=True)
class Settings:
  title: str  # the decode hparams' group (its gin name), or the problem's name
  used_by: tuple[str, ...]
  rows: tuple[declarations.Row, ...]


def decode_hparams(problems) -> list[Settings]:
  """One entry per distinct DECODE_HPARAMS among the registered `problems`' decoders."""
  users = {}
  for name in problems:
    group = registry.problem(name).decoder_class.DECODE_HPARAMS
    users.setdefault(group, []).append(name)
  return [Settings(group.gin_name, tuple(names), tuple(declarations.rows(group)))
          for group, names in sorted(users.items(), key=lambda kv: len(kv[0].declarations()))]


def problem_settings(problems) -> list[Settings]:
  """The --problem_settings of each registered problem that declares any, with its
  defaults (the problem's preset over the declared ones)."""
  out = []
  for name in problems:
    problem = registry.problem(name)
    group = problem.settings_class()
    if group.declarations():
      out.append(Settings(name, (name,), tuple(declarations.rows(
          group, problem.default_settings().values()))))
  return out
