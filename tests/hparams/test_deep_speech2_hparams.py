"""The DeepSpeech2 sets are valid for deep_speech2 and large has ~115M parameters."""
import pytest

from t2t_lite import registry


@pytest.mark.parametrize("name", ["deep_speech2_tiny", "deep_speech2_base",
                                  "deep_speech2_few_hours", "deep_speech2_hundreds_hours",
                                  "deep_speech2_large"])
def test_each_set_validates_for_deep_speech2(name):
  hp = registry.hparams(name)
  hp.target_vocab_size = 30
  registry.model("deep_speech2").validate_hparams(hp)
  registry.problem("speech_manifest").check_hparams(hp)
