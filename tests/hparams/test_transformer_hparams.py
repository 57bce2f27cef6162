"""The Transformer sets are valid for the transformer model and keep Tensor2Tensor's
learning-rate peak."""
import pytest

from t2t_lite import registry

SETS = ["transformer_tiny", "transformer_small", "transformer_base", "transformer_big",
        "transformer_base_single_gpu"]


@pytest.mark.parametrize("name", SETS)
def test_each_set_validates_for_the_transformer(name):
  registry.model("transformer").validate_hparams(registry.hparams(name))


def test_base_peaks_near_tensor2tensors_rate():
  hp = registry.hparams("transformer_base")
  peak = hp.learning_rate_constant / hp.learning_rate_warmup_steps ** 0.5 / hp.hidden_size ** 0.5
  assert peak == pytest.approx(9.88e-4, rel=1e-3)


def test_the_ranged_set_samples_inside_its_ranges():
  from t2t_lite.sweep import ranges
  rhp = ranges.RangedHParams()
  registry.ranged_hparams.get("transformer_base_range")(rhp)
  assert {"learning_rate_constant", "learning_rate_warmup_steps"} <= set(rhp.ranges)
