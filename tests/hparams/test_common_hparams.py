"""basic_params1 holds Tensor2Tensor's defaults for every hparam the engine reads."""
from t2t_lite import engine_hparams, hparams_lib, registry


def test_basic_params1_satisfies_the_engine_declarations():
  hp = registry.hparams("basic_params1")
  hparams_lib.validate(hp, engine_hparams.SPECS, "basic_params1")
  assert (hp.batch_size, hp.optimizer, hp.activation_dtype) == (4096, "adam", "float32")
