"""The hparams groups (options.hparams_group): who reads each (the engine, a model, a
problem), each hparam's declaration, and the registered hparams sets that change it from
its declared default."""
import dataclasses

from t2t_lite import engine_hparams, options, registry, t2t_model
from t2t_lite.reference import declarations


@dataclasses.dataclass(frozen=True)
class Group:
  gin_name: str
  doc: str
  readers: tuple[str, ...]  # "the engine", "model transformer", "problem speech_manifest"
  rows: tuple[declarations.Row, ...]
  changed_by: dict  # {hparam: [(hparams set, its value)]}


def set_values(sets) -> dict[str, dict]:
  """{hparams set: its values} of the registered sets named in `sets`."""
  return {name: registry.hparams(name).values() for name in sets}


def groups(problems, models, sets, only=None) -> list[Group]:
  """Every declared hparams group (or those named in `only`), the engine's first, with its
  readers among the registered `problems` and `models` and the changes of the registered
  `sets`."""
  readers = {g.gin_name: ["the engine"] for g in engine_hparams.GROUPS}
  for name in models:
    for g in t2t_model.hparams_groups(registry.model(name)):
      readers.setdefault(g.gin_name, []).append(f"model {name}")
  for name in problems:
    for g in registry.problem(name).HPARAMS:
      readers.setdefault(g.gin_name, []).append(f"problem {name}")
  values = set_values(sets)
  engine = [g.gin_name for g in engine_hparams.GROUPS]
  order = engine + sorted(set(options.HPARAMS_GROUPS) - set(engine))
  out = []
  for gin_name in order:
    if only is not None and gin_name not in only:
      continue
    group = options.HPARAMS_GROUPS[gin_name]
    rows = declarations.rows(group)
    changed = {r.name: [(s, v[r.name]) for s, v in values.items()
                        if r.name in v and v[r.name] != r.default] for r in rows}
    out.append(Group(gin_name, _doc(group),
                     tuple(readers.get(gin_name, ())), tuple(rows), changed))
  return out


def _doc(group) -> str:
  """The group's docstring (none when dataclass made one from the signature)."""
  doc = (group.__doc__ or "").strip()
  return "" if doc.startswith(f"{group.__name__}(") else doc
