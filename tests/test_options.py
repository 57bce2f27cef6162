"""Declared option groups: validation against the declaration, gin < flags precedence,
the name=value string syntax."""
import importlib

import gin
import pytest

from t2t_lite import gin_config, options
from t2t_lite.errors import UserError
from t2t_lite.options import setting


@options.group("OptionsExample")
class Example(options.Options):
  steps: int = setting(5, "How many steps.", minimum=1)
  rate: float = setting(0.5, "A rate.", above=0, below=1)
  mode: str = setting("fast", "How.", choices=("fast", "slow"))
  seed: int = setting(1, "Seed.", flag="random_seed")
  path: str | None = setting(None, "A path.", flag="")


@pytest.fixture(autouse=True)
def clean_gin():
  gin_config.clear()
  yield
  gin_config.clear()


@options.hparams_group("options_example_hparams")
class ExampleHParams(options.HParamsGroup):
  width: int = setting(4, "Width.", minimum=1)
  sizes: list = setting([1, 2], "Sizes.")
  dtype: str = setting("float32", "Dtype.", choices=("float32", "bfloat16"), eval_time=True)


def test_hparams_groups_declare_defaults_specs_and_gin_overrides():
  a, b = ExampleHParams(), ExampleHParams()
  assert a.sizes == [1, 2] and a.sizes is not b.sizes  # a list default is copied
  assert ExampleHParams(sizes=(3,)).sizes == [3]
  with pytest.raises(UserError, match=r"^hparam width=0 must be >= 1"):
    ExampleHParams(width=0)
  assert [(s.name, s.type, s.eval_time) for s in ExampleHParams.specs()] == [
      ("width", int, False), ("sizes", list, False), ("dtype", str, True)]
  assert ExampleHParams.specs()[2].bounds.choices == ("float32", "bfloat16")
  assert ExampleHParams.flag_bindings() == {} and ExampleHParams.gin_bindings() == {}
  gin.parse_config("options_example_hparams.width = 9")
  assert ExampleHParams.gin_bindings() == {"width": 9}
  assert ExampleHParams().width == 4  # gin overrides a run's hparams, not the defaults
  assert options.HPARAMS_GROUPS["options_example_hparams"] is ExampleHParams


def test_an_hparams_group_name_is_declared_once():
  with pytest.raises(ValueError, match="hparams group options_example_hparams is declared "
                                       "twice"):
    @options.hparams_group("options_example_hparams")
    class Other(options.HParamsGroup):  # noqa: F841
      width: int = setting(4, "Width.")
  with pytest.raises(UserError, match="HPARAMS must list hparams groups"):
    options.check_hparams_groups((ExampleHParams.specs()[0],), "model m")


def test_values_outside_the_declaration_are_one_line_errors_naming_the_flag():
  with pytest.raises(UserError, match=r"^--steps=0 must be >= 1"):
    Example(steps=0)
  with pytest.raises(UserError, match=r"--rate=1.0 must be < 1"):
    Example(rate=1.0)
  with pytest.raises(UserError, match=r"--mode='medium' must be one of fast, slow"):
    Example(mode="medium")
  with pytest.raises(UserError, match=r"--random_seed must be a int, got 'x'"):
    Example(seed="x")
  with pytest.raises(UserError, match=r"OptionsExample.path must be a str"):
    Example(path=3)  # no flag: named by its gin binding


def test_groups_are_frozen_and_replace_revalidates():
  example = Example(rate=0.25).replace(steps=7)
  assert example.values() == {"steps": 7, "rate": 0.25, "mode": "fast", "seed": 1,
                              "path": None}
  with pytest.raises(UserError, match="--steps=-1"):
    example.replace(steps=-1)
  with pytest.raises(AttributeError):
    example.steps = 3


def test_gin_bindings_are_the_defaults_and_flags_map_to_bindings():
  gin.parse_config("OptionsExample.steps = 9")
  assert Example.from_config().steps == 9
  assert Example.flag_bindings() == {"steps": "OptionsExample.steps",
                                     "rate": "OptionsExample.rate",
                                     "mode": "OptionsExample.mode",
                                     "random_seed": "OptionsExample.seed"}
  assert Example.where("seed") == "--random_seed" and Example.where("path") == \
      "OptionsExample.path"


def test_from_string_parses_the_hparams_syntax():
  assert Example.from_string("steps=3, mode=slow,rate=0.1", "--x") == \
      Example(steps=3, mode="slow", rate=0.1)
  with pytest.raises(UserError, match="unknown setting 'step' in --x; did you mean steps"):
    Example.from_string("step=3", "--x")
  with pytest.raises(UserError, match="--x: --steps=0 must be >= 1"):
    Example.from_string("steps=0", "--x")
  with pytest.raises(UserError, match="malformed --x entry 'steps'"):
    Example.from_string("steps", "--x")


def test_every_declared_option_group_is_bindable_in_gin_under_its_name():
  # Every binary's module (their own groups), and the registrations (problems' settings).
  from t2t_lite import experiment
  from t2t_lite.reference import declarations, flags
  for module in flags.binaries().values():
    importlib.import_module(module)
  experiment.load_registrations()
  groups = declarations.groups()
  assert len(groups) >= 38 and options.HParamsGroup not in groups
  def qualified(cls):  # a module imported again declares its classes again
    return cls and (cls.__module__, cls.__qualname__)
  for group in groups:
    registry = (options.HPARAMS_GROUPS if issubclass(group, options.HParamsGroup)
                else options.GROUPS)
    assert group.gin_name and qualified(registry.get(group.gin_name)) == qualified(group), (
        group.__name__)
  assert {"Decoder", "Exporter", "Benchmark", "Serve", "Sweep", "Launch", "LocalCluster",
          "Averaging", "Bleu", "Docs", "DecodeHParams", "VocabSettings"} <= set(options.GROUPS)
  not_bound = sorted(g.gin_name for g in groups if not g.bindable)
  assert not_bound == ["ClusterShape", "Dir", "Registry", "SearchSettings", "Weights"]
  for name in not_bound:  # named, but a binding of them is an error, not ignored
    with pytest.raises(UserError, match=f"unknown gin configurable '{name}'"):
      gin_config.parse(gin_params=[f"{name}.output_dir = 'x'"])
    assert options.GROUPS[name].flag_bindings() == {}


def test_an_option_group_name_is_declared_once():
  with pytest.raises(ValueError, match="option group OptionsExample is declared twice"):
    @options.group("OptionsExample")
    class Other(options.Options):  # noqa: F841
      steps: int = setting(5, "How many steps.")


@options.group("OptionsExampleSettings")
class ExampleSettings(options.Options):
  field_flags = False  # named inside a flag's 'name=value,...' string
  beam: int = setting(1, "Beam.", minimum=1)
  alpha: float = setting(0.6, "Alpha.")


def test_a_string_group_binds_in_gin_over_saved_values_under_the_flag():
  assert ExampleSettings.from_string("", "--x", base={"beam": 3}).beam == 3
  gin.parse_config("OptionsExampleSettings.beam = 4\nOptionsExampleSettings.alpha = 0.2")
  assert ExampleSettings() == ExampleSettings(beam=1)  # the defaults stay
  got = ExampleSettings.from_string("alpha=1.0", "--x", base={"beam": 3, "alpha": 0.5})
  assert (got.beam, got.alpha) == (4, 1.0)
  with pytest.raises(UserError, match=r"^--x: beam=0 must be >= 1"):
    ExampleSettings.from_string("beam=0", "--x")


def test_a_composed_group_reads_each_part_under_its_own_name():
  composed = options.compose("ComposedExample", ExampleSettings, Example, exclude=("seed",))
  assert composed.parts == (ExampleSettings, Example)
  gin.parse_config("OptionsExampleSettings.beam = 5\nOptionsExample.steps = 8\n"
                   "OptionsExample.seed = 3")
  assert composed.gin_bindings() == {"beam": 5, "steps": 8}  # seed is not composed
  assert composed.from_string("", "--x").beam == 5
