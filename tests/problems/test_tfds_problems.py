"""TFDS-backed problems through the real tfds loading code, offline with mock data."""
import pytest
import tensorflow_datasets as tfds

from t2t_lite import experiment
from t2t_lite.errors import UserError
from t2t_lite.training.trainer import Trainer, TrainerOptions

TINY = ("batch_size=256,hidden_size=32,filter_size=64,num_heads=2,num_hidden_layers=1,"
        "learning_rate_warmup_steps=10")


def _generate_and_train(problem_name, tmp_path):
  problem, model_cls, hp = experiment.resolve(problem_name, "transformer", "transformer_tiny",
                                              TINY)
  data_dir = str(tmp_path / "data")
  problem.configure(f"approx_vocab_size=64,max_examples=40,"
                    f"tfds_data_dir={tmp_path / 'tfds'}", data_dir)
  logs = []
  with tfds.testing.mock_data(num_examples=40):
    problem.generate_data(data_dir, log=logs.append)
  assert any("wrote 40 train examples" in line for line in logs), logs
  problem.update_hparams(hp, data_dir)
  trainer = Trainer(problem, model_cls, hp, str(tmp_path / "run"), data_dir, TrainerOptions(
      train_steps=4, eval_steps=2, local_eval_frequency=4, seed=1, eval_decode_samples=4),
      log=logs.append)
  trainer.restore()
  trainer.train()
  return problem, hp, trainer.evaluate()


def test_wmt14_translation_from_mock_tfds_trains_and_reports_bleu(tmp_path):
  problem, hp, results = _generate_and_train("translate_ende_wmt32k", tmp_path)
  assert hp.has_inputs and 0.0 <= results["bleu"] <= 100.0
  assert set(results) >= {"accuracy", "neg_log_perplexity", "bleu"}


def test_lm1b_language_model_from_mock_tfds_trains_decoder_only(tmp_path):
  problem, hp, results = _generate_and_train("languagemodel_lm1b32k", tmp_path)
  assert not hp.has_inputs and "bleu" not in results
  assert results["neg_log_perplexity"] < 0


def test_tfds_data_dir_without_data_and_no_download_is_one_clear_error(tmp_path):
  problem = experiment.resolve("languagemodel_lm1b32k", "transformer", "transformer_tiny")[0]
  problem.configure(f"tfds_download=False,tfds_data_dir={tmp_path}", str(tmp_path / "d"))
  with pytest.raises(UserError, match="TFDS dataset 'lm1b' split 'train' is not in"):
    problem.generate_data(str(tmp_path / "d"), log=lambda *_: None)
