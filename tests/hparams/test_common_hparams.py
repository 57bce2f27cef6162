"""basic_params1 holds Tensor2Tensor's defaults for every hparam the engine reads."""
from t2t_lite import engine_hparams, hparams_lib, options, registry


def test_basic_params1_satisfies_the_engine_declarations():
  hp = registry.hparams("basic_params1")
  hparams_lib.validate(hp, engine_hparams.SPECS, "basic_params1")
  assert (hp.batch_size, hp.optimizer, hp.activation_dtype) == (4096, "adam", "float32")


def test_every_hparam_of_every_set_is_declared_once_with_its_type():
  declared = {}
  for group in options.HPARAMS_GROUPS.values():
    for s in group.specs():
      assert s.name not in declared, f"{s.name} is declared by two hparams groups"
      declared[s.name] = s
  for name in registry.hparams_sets.names():
    for key, value in registry.hparams(name).values().items():
      assert key in declared, f"{name}: {key} is in no hparams group"
      assert isinstance(value, declared[key].type), (name, key, value)


def test_basic_params1_is_the_declared_defaults():
  hp = registry.hparams("basic_params1")
  for group in engine_hparams.GROUPS:
    assert group().values().items() <= hp.values().items()
