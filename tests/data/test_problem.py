"""The Problem contract: splits, settings saved with the data, data files, feature specs."""
import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.data.problem import Problem
from t2t_lite.decoding.decoder import TextDecoder
from t2t_lite.errors import UserError


def test_declared_hooks_have_defaults():
  problem = registry.problem("algorithmic_reverse_decimal40")
  assert problem.name == "algorithmic_reverse_decimal40"
  assert problem.decoder_class is TextDecoder and problem.decode_metrics == ()
  spec = problem.feature_spec(registry.hparams("transformer_tiny"))
  assert spec == {"targets": tf.TensorSpec([None], tf.int32),
                  "inputs": tf.TensorSpec([None], tf.int32)}
  assert {"feature_encoders", "generate_encoded_samples"} <= Problem.__abstractmethods__


def test_splits_and_missing_data_are_user_errors(tmp_path):
  problem = registry.problem("algorithmic_reverse_decimal40")
  problem.check_split("dev_long")
  with pytest.raises(UserError, match="has splits train, dev, dev_long"):
    problem.check_split("test")
  with pytest.raises(UserError, match="no train data for problem .* run t2t-datagen"):
    problem.data_files(str(tmp_path), "train")


def test_settings_are_saved_with_the_data_and_never_silently_changed(tmp_path):
  problem = registry.problem("languagemodel_from_files")
  problem.configure("train_files=a.txt,vocab_type=byte", str(tmp_path))
  problem.save_settings(str(tmp_path))
  again = registry.problem("languagemodel_from_files")
  assert again.configure("", str(tmp_path)).vocab_type == "byte"  # read back
  with pytest.raises(UserError, match="generated with vocab_type='byte'"):
    again.configure("vocab_type=character", str(tmp_path))
  with pytest.raises(UserError, match="unknown setting 'vocab_typ' in --problem_settings of "
                                      "problem languagemodel_from_files; did you mean "
                                      "vocab_type"):
    again.configure("vocab_typ=byte", str(tmp_path))


@pytest.mark.parametrize("given,message", [
    ("vocab_type=words", "vocab_type='words' must be one of sentencepiece, byte"),
    ("approx_vocab_size=4", "approx_vocab_size=4 must be >= 8"),
    ("dev_fraction=1.0", "dev_fraction=1.0 must be < 1"),
    ("vocab_samples=many", "vocab_samples must be a int"),
])
def test_settings_are_declared_option_groups(given, message):
  problem = registry.problem("languagemodel_from_files")
  with pytest.raises(UserError, match="^--problem_settings of problem languagemodel_from_files"
                                      ": " + message):
    problem.configure(given)
  help_of = {n: d.help for n, _, d, _ in problem.settings_class().declarations()}
  assert set(help_of) == set(problem.default_settings().values()) and all(help_of.values())
