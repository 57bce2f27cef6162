"""Declared settings: each setting is declared once, with its type, default, help and valid
range, on the object that uses it. Command-line flags and gin bindings are derived from
that declaration, never kept in step by hand.

An option group is a frozen dataclass whose fields are made with `setting()`:

  @options.group("Trainer")                       # gin: Trainer.train_steps = 5000
  class TrainerOptions(options.Options):
    train_steps: int = options.setting(250000, "Train until this global step.", minimum=1)
    seed: int = options.setting(1234, "Seed ...", flag="random_seed")

- `bin/common_flags.define_flags(TrainerOptions)` defines --train_steps and --random_seed
  (type, default and help from here);
- `TrainerOptions.from_config()` is what a run uses: the declared defaults < gin files <
  gin params < flags given on the command line (the binaries turn those flags into gin
  bindings first, so the operative config.gin records them);
- constructing a group checks every value against its declaration and fails with one line
  naming the flag (or the gin binding), so `--train_steps=-5` never starts a run.

Every group has a gin name (`options.GROUPS`), the name a user sees: the class's name
without "Options" (Decoder, Exporter, Serve, ...; the first groups kept the names their
config.gin files have always used: experiment, run, make_dataset, study_trial), bindable
in gin but for a few (`bindable=False`: Registry and Dir, read from the flags alone; the
shared bases ClusterShape, Weights, SearchSettings, read through their subclasses). A group
named inside one flag's `name=value,...` string (`from_string`: --decode_hparams,
--problem_settings) is bound like an hparams group: `DecodeHParams.beam_size = 4` overrides
the values saved with the run (decode.json, the data_dir's settings), under the flag's.

Hparams are option groups too (`hparams_group`): the engine, each model and each problem
declare the hparams they read, with their defaults, where they read them:

  @options.hparams_group("transformer")           # gin: transformer.num_heads = 16
  class TransformerHParams(options.HParamsGroup):
    num_heads: int = options.setting(8, "attention heads", minimum=1)

A registered hparams set composes such groups and replaces some of their defaults
(hparams_lib.HParams.of(...).replace(...)); --hparams, `hparams.*` and `<group>.*` gin
bindings override the set's values (experiment.apply_overrides).
"""
import dataclasses
import types
import typing
from typing import Any, ClassVar

import gin

from t2t_lite.errors import UserError, suggestion
from t2t_lite.hparams_lib import Bounds, HParamSpec, merge_specs, parse_value, split_top_level

_KEY = "t2t_lite.setting"


@dataclasses.dataclass(frozen=True)
class Declaration:
  """A setting's help, its flag (None: the field's name; "": no flag) and its bounds.
  eval_time (hparams only): the value may differ at evaluation and decoding from what the
  run was trained with (it changes how batches are formed or the compute dtype, not the
  weights)."""
  help: str
  flag: str | None = None
  bounds: Bounds = Bounds()
  eval_time: bool = False


def setting(default: Any, help: str, *, flag: str | None = None, eval_time: bool = False,
            minimum: float | None = None, maximum: float | None = None,
            above: float | None = None, below: float | None = None, choices: tuple = (),
            also: tuple = ()):
  """A dataclass field declaring one setting (see the module docstring); `also` lists
  values accepted outside minimum..maximum (e.g. -1 for "all"). A list default is copied
  for each instance."""
  metadata = {_KEY: Declaration(
      help, flag, Bounds(minimum, maximum, above, below, tuple(choices), tuple(also)),
      eval_time)}
  if isinstance(default, list):
    return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
  return dataclasses.field(default=default, metadata=metadata)


def value_type(annotation):
  """int, float, bool, str or list, from a field's annotation (`str | None` -> str,
  `list[int]` -> list)."""
  if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
    (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
  return typing.get_origin(annotation) or annotation


def _default(field):
  if field.default_factory is not dataclasses.MISSING:
    return field.default_factory()
  return field.default


class Options:
  """Base of the option groups. Subclasses are made with `group()`."""

  gin_name: ClassVar[str | None] = None
  # A composed group (compose()): the declared groups its fields come from, each bindable
  # in gin under its own name.
  parts: ClassVar[tuple] = ()
  composed: ClassVar[bool] = False  # made by compose() (of no parts, too)
  # False for a group whose settings live inside one flag's 'name=value,...' string
  # (from_string, e.g. --decode_hparams): its fields are not flags of their own.
  field_flags: ClassVar[bool] = True
  # False (group(..., bindable=False)): named, but not a gin configurable, so that a
  # binding of it is an unknown configurable rather than silently ignored: a group read
  # from flags alone, or a shared base read only through the groups made from it.
  bindable: ClassVar[bool] = True

  def __post_init__(self):
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      type_ = value_type(field.type)
      if type_ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
        object.__setattr__(self, field.name, value)
      if type_ is list and isinstance(value, tuple):
        value = list(value)
        object.__setattr__(self, field.name, value)
      if value is not None and (not isinstance(value, type_) or
                                (type_ is int and isinstance(value, bool))):
        raise UserError(f"{self.where(field.name)} must be a {type_.__name__}, got {value!r}")
      problem = field.metadata[_KEY].bounds.problem(value)
      if problem:
        raise UserError(f"{self.where(field.name)}={value!r} {problem}")

  # -- declarations ---------------------------------------------------------------------
  @classmethod
  def declarations(cls):
    """[(field name, value type, Declaration, default)] in declaration order."""
    return [(f.name, value_type(f.type), f.metadata[_KEY], _default(f))
            for f in dataclasses.fields(cls)]

  @classmethod
  def flag_name(cls, name):
    """The command-line flag of a field ("" when it has none)."""
    if not cls.field_flags:
      return ""
    flag = dict((n, d.flag) for n, _, d, _ in cls.declarations())[name]
    return name if flag is None else flag

  @classmethod
  def where(cls, name):
    """How a user names a setting: its flag, else its gin binding; a setting named inside
    a flag's string (from_string adds which flag) by its name."""
    flag = cls.flag_name(name)
    if flag:
      return f"--{flag}"
    return f"{cls.gin_name}.{name}" if cls.field_flags and cls.gin_name else name

  @classmethod
  def flag_bindings(cls):
    """{flag name: 'gin_name.field'} for the fields that are both."""
    if not cls.gin_name or not cls.bindable:
      return {}
    return {cls.flag_name(n): f"{cls.gin_name}.{n}" for n, _, _, _ in cls.declarations()
            if cls.flag_name(n)}

  @classmethod
  def gin_bindings(cls) -> dict:
    """{name: value} bound in gin as `gin_name.name` (of the groups a composed group is
    made of, each under its own name)."""
    out, names = {}, {f.name for f in dataclasses.fields(cls)}
    for group in cls.parts or (cls,):
      for name in names & {f.name for f in dataclasses.fields(group)}:
        try:
          out[name] = gin.query_parameter(f"{group.gin_name}.{name}")
        except ValueError:  # not bound
          pass
    return out

  # -- making one -------------------------------------------------------------------------
  @classmethod
  def from_config(cls):
    """The group as configured: gin's bindings over the declared defaults."""
    try:
      return cls()
    except UserError as e:  # gin appends "In call to configurable ..." to the message
      raise UserError(str(e).split("\n  In call to configurable")[0]) from None

  @classmethod
  def from_flags(cls, flag_values):
    """The group from parsed absl flags alone, no gin (the declared defaults where unset):
    a command line checked here and run elsewhere (t2t-launch's t2t-serve flags)."""
    return cls(**{n: flag_values[cls.flag_name(n)].value for n, _, _, _ in cls.declarations()
                  if cls.flag_name(n) and cls.flag_name(n) in flag_values})

  @classmethod
  def from_string(cls, text, where, base=None):
    """Parses 'name=value,name=value' (the --hparams syntax) over the group's gin bindings
    over `base` ({name: value}, e.g. settings saved with a run) over the defaults."""
    values = {**(base or {}), **cls.gin_bindings()}
    types_ = {n: t for n, t, _, _ in cls.declarations()}
    for item in split_top_level(text or ""):
      if "=" not in item:
        raise UserError(f"malformed {where} entry '{item}': expected name=value")
      name, raw = (s.strip() for s in item.split("=", 1))
      if name not in types_:
        raise UserError(f"unknown setting '{name}' in {where}{suggestion(name, types_)}")
      values[name] = parse_value(raw, types_[name])
    try:
      return cls(**values)
    except UserError as e:
      raise UserError(f"{where}: {e}") from None

  def replace(self, **changes):
    return dataclasses.replace(self, **changes)

  def values(self):
    return dataclasses.asdict(self)


# gin name -> option group (group()), and -> hparams group (hparams_group()).
GROUPS: dict[str, type] = {}
HPARAMS_GROUPS: dict[str, type] = {}


def _register(registry, gin_name, cls, kind):
  """Records cls under gin_name; False if it was already (the same class, imported again)."""
  known = GROUPS.get(gin_name) or HPARAMS_GROUPS.get(gin_name)
  if known is not None and (known.__module__, known.__qualname__) != (cls.__module__,
                                                                     cls.__qualname__):
    raise ValueError(f"{kind} {gin_name} is declared twice: by "
                     f"{known.__module__}.{known.__qualname__} and "
                     f"{cls.__module__}.{cls.__qualname__}")
  registry[gin_name] = cls
  return known is None


def group(gin_name, bindable=True):
  """Class decorator: a frozen dataclass of settings, bindable in gin as `gin_name.*`
  (unless not `bindable`: see Options.bindable).

  A group of flags is a gin configurable: from_config() reads the bindings. A group named
  inside a flag's string (field_flags False) is bound through a twin, like an hparams
  group: its bindings override values saved with a run (from_string), not the defaults."""
  def decorate(cls):
    cls = dataclasses.dataclass(frozen=True)(cls)
    cls.gin_name, cls.bindable = gin_name, bindable
    first = _register(GROUPS, gin_name, cls, "option group")
    if bindable and cls.field_flags:
      cls = gin.configurable(gin_name)(cls)
    elif bindable and first:
      gin.external_configurable(cls, name=gin_name)
    return cls
  return decorate


# -- hparams ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class HParamsGroup(Options):
  """Base of the hparams groups (made with `hparams_group`): the hparams one reader (the
  engine's input pipeline, a layer, a model, a problem) reads, with their defaults."""

  field_flags: ClassVar[bool] = False  # set through --hparams, not flags of their own

  @classmethod
  def where(cls, name):
    return f"hparam {name}"

  @classmethod
  def check_between(cls, hp) -> None:
    """Checks between hparams of the whole set (e.g. hidden_size divisible by num_heads),
    after each value was checked against its declaration. Raises UserError."""

  @classmethod
  def specs(cls) -> list[HParamSpec]:
    """The declarations as HParamSpecs (what hparams_lib.validate checks)."""
    return [HParamSpec(n, t, d.help, d.bounds, d.eval_time) for n, t, d, _ in
            cls.declarations()]


def hparams_group(gin_name):
  """Class decorator: a frozen dataclass of hparams, bindable in gin as `gin_name.*`.

  gin binds a twin of the class (gin.external_configurable), not the class itself: a
  binding overrides a run's resolved hparams, over the hparams set (experiment.
  apply_overrides), rather than the declared defaults under it."""
  def decorate(cls):
    cls = dataclasses.dataclass(frozen=True)(cls)
    cls.gin_name = gin_name
    if _register(HPARAMS_GROUPS, gin_name, cls, "hparams group"):
      gin.external_configurable(cls, name=gin_name)
    return cls
  return decorate


def hparam_specs(*groups) -> list[HParamSpec]:
  """The specs of hparams groups (classes); a name two groups declare must be declared
  the same."""
  return merge_specs(*(g.specs() for g in groups))


def check_hparams_groups(groups, owner):
  """Raises UserError unless `groups` (a model's or problem's HPARAMS) lists hparams groups:
  the classes made with hparams_group (the former spec(...) tuples are refused by name)."""
  for g in groups:
    if not (isinstance(g, type) and issubclass(g, HParamsGroup) and g.gin_name):
      raise UserError(f"{owner}: HPARAMS must list hparams groups (classes made with "
                      f"t2t_lite.options.hparams_group), not {g!r}; declare each hparam as a "
                      "field with its default, see docs/tutorials/usr-dir.md")


_COMPOSED: dict = {}


def compose(name, *groups, exclude=(), base=Options):
  """One frozen option group (a subclass of `base`) with the fields of `groups`, each name
  declared by one of them, e.g. a problem's settings from its bases' and mixins' groups.
  The same arguments give the same class."""
  key = (name, groups, tuple(exclude), base)
  if key not in _COMPOSED:
    fields, owner = [], {}
    for g in groups:
      for f in dataclasses.fields(g):
        if f.name in exclude:
          continue
        if f.name in owner:
          raise ValueError(f"setting {f.name} is declared by {owner[f.name].__name__} and "
                           f"{g.__name__}")
        owner[f.name] = g
        fields.append((f.name, f.type, dataclasses.field(
            default=f.default, default_factory=f.default_factory, metadata=f.metadata)))
    _COMPOSED[key] = dataclasses.make_dataclass(name, fields, bases=(base,), frozen=True,
                                                namespace={"parts": groups, "composed": True})
  return _COMPOSED[key]
