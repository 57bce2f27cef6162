import pytest

from t2t_lite import registry
from t2t_lite.errors import UserError
from t2t_lite.hparams_lib import HParams


def test_sets_build_on_each_other_with_tensor2tensor_values():
  base, big, tiny = (registry.hparams(n) for n in
                     ["transformer_base", "transformer_big", "transformer_tiny"])
  assert (base.hidden_size, base.filter_size, base.num_heads,
          base.num_hidden_layers) == (512, 2048, 8, 6)
  assert (big.hidden_size, big.filter_size, big.num_heads, big.batch_size) == (1024, 4096, 16, 2048)
  assert big.layer_prepostprocess_dropout == 0.3
  assert (tiny.hidden_size, tiny.filter_size, tiny.num_heads,
          tiny.num_hidden_layers) == (128, 512, 4, 2)
  single = registry.hparams("transformer_base_single_gpu")
  assert (single.batch_size, single.learning_rate_warmup_steps) == (1024, 16000)


def test_presets_compose_groups_and_replace_their_defaults():
  from t2t_lite.layers.dropout import DropoutHParams
  from t2t_lite.t2t_model import ModelHParams
  hp = HParams.of(ModelHParams(), DropoutHParams())
  assert hp.hidden_size == ModelHParams().hidden_size and hp.dropout_bits == 8
  smaller = hp.replace(hidden_size=32, dropout_kernel="tf")
  assert (smaller.hidden_size, smaller.dropout_kernel, hp.hidden_size) == (32, "tf", 64)
  with pytest.raises(UserError, match="unknown hparam 'hiden_size'.*hidden_size"):
    hp.replace(hiden_size=32)
  with pytest.raises(UserError, match="'hidden_size' is a int"):
    hp.replace(hidden_size="big")
  with pytest.raises(ValueError, match="hparam hidden_size of ModelHParams is already "
                                       "declared"):
    hp.with_groups(ModelHParams())


def test_parse_overrides_with_types():
  hp = registry.hparams("transformer_tiny")
  hp.parse("num_hidden_layers=4,learning_rate_constant=0.5,optimizer=adafactor,"
           "shared_embedding_and_softmax_weights=false,learning_rate_warmup_steps=10")
  assert hp.num_hidden_layers == 4 and isinstance(hp.num_hidden_layers, int)
  assert hp.learning_rate_constant == 0.5
  assert hp.optimizer == "adafactor"
  assert hp.shared_embedding_and_softmax_weights is False
  hp.parse("learning_rate_constant=2")  # an int where a float is expected is fine
  assert isinstance(hp.learning_rate_constant, float)


@pytest.mark.parametrize("bad,expect", [
    ("num_hiden_layers=4", "num_hidden_layers"),
    ("num_hidden_layers=four", "int"),
    ("num_hidden_layers=2.5", "int"),
    ("num_hidden_layers", "expected name=value"),
])
def test_bad_overrides_are_one_line_errors(bad, expect):
  hp = registry.hparams("transformer_tiny")
  with pytest.raises(UserError) as e:
    hp.parse(bad)
  assert expect in str(e.value) and "\n" not in str(e.value)


def test_json_round_trip_keeps_types():
  hp = registry.hparams("transformer_tiny")
  again = HParams.from_json(hp.to_json())
  assert again.values() == hp.values()
  with pytest.raises(UserError):
    again.parse("hidden_size=x")


def test_lists():
  hp = HParams(sizes=[1, 2])
  hp.parse("sizes=[3,4,5]")
  assert hp.sizes == [3, 4, 5]
