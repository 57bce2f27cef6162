"""The engine's hparam declarations: each named once, explained, and satisfied by the
registered sets built on basic_params1."""
from t2t_lite import engine_hparams, hparams_lib, registry


def test_each_engine_hparam_is_declared_once_with_help():
  names = [s.name for s in engine_hparams.SPECS]
  assert len(names) == len(set(names))
  assert all(s.help for s in engine_hparams.SPECS)
  assert {s.name for s in engine_hparams.SPECS if s.eval_time} == {
      "batch_size", "max_length", "min_length_bucket", "length_bucket_step",
      "eval_drop_long_sequences", "activation_dtype"}


def test_the_registered_sets_hold_valid_engine_hparams():
  for name in registry.hparams_sets.names():
    hparams_lib.validate(registry.hparams(name), engine_hparams.SPECS, name)


def test_invalid_values_come_from_the_bounds():
  batch_size = next(s for s in engine_hparams.SPECS if s.name == "batch_size")
  assert batch_size.bounds.invalid_values(int) == [0]
  dtype = next(s for s in engine_hparams.SPECS if s.name == "activation_dtype")
  assert dtype.bounds.problem("float8").startswith("must be one of float32")
