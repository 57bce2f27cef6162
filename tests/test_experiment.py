"""Names -> objects, and the one validation of hparams before a run."""
import pytest

from t2t_lite import experiment, machine, registry
from t2t_lite.data import audio
from t2t_lite.errors import UserError


def test_resolve_applies_overrides_and_the_problems_inputs():
  problem, model_cls, hp = experiment.resolve("languagemodel_from_files", "transformer",
                                              "transformer_tiny", "hidden_size=64")
  assert hp.hidden_size == 64 and not hp.has_inputs
  assert model_cls is registry.model("transformer")


def test_a_model_whose_features_the_problem_lacks_is_refused_at_start():
  with pytest.raises(UserError, match="model deep_speech2 reads 'inputs' as float32 of "
                                      "rank 2, but problem 'algorithmic_reverse_decimal40' "
                                      "gives int32 of rank 1"):
    experiment.resolve("algorithmic_reverse_decimal40", "deep_speech2", "deep_speech2_tiny")
  hp = registry.hparams("transformer_tiny").with_groups(audio.AudioHParams())
  with pytest.raises(UserError, match="reads 'inputs' as int32 of rank 1, but problem "
                                      "'speech_manifest' gives float32 of rank 2"):
    experiment.validate(registry.problem("speech_manifest"), registry.model("transformer"),
                        hp)


def test_hparams_of_another_models_set_name_a_set_that_fits():
  with pytest.raises(UserError, match="e.g. deep_speech2"):
    experiment.resolve("speech_manifest", "deep_speech2", "transformer_tiny")


def test_eval_time_overrides_change_batching_only():
  trained = registry.hparams("transformer_tiny")
  model_cls = registry.model("transformer")
  changed = experiment.apply_eval_time_overrides(trained, "batch_size=64,max_length=9",
                                                 model_cls)
  assert (changed.batch_size, changed.max_length) == (64, 9)
  assert trained.batch_size == 4096  # the run's own hparams are not modified
  with pytest.raises(UserError, match="--hparams: hidden_size cannot change after training"):
    experiment.apply_eval_time_overrides(trained, "hidden_size=64", model_cls)


def test_run_options_declare_the_strategies_and_schedules():
  assert "parameter_server" in experiment.RunOptions.declarations()[1][2].bounds.choices
  with pytest.raises(UserError, match="--schedule='trian' must be one of"):
    experiment.RunOptions(schedule="trian")


def test_final_hparams_complete_a_frozen_copy(tmp_path, monkeypatch):
  monkeypatch.setattr(machine, "choose_activation_dtype", lambda: machine.DtypeChoice(
      "bfloat16", 3.0, "2026-01-01T00:00:00Z", True, "machine.json"))
  problem, model_cls, requested = experiment.resolve(
      "algorithmic_reverse_decimal40", "transformer", "transformer_tiny",
      "activation_dtype=auto,hidden_size=32")
  problem.write_vocab(str(tmp_path))
  logs = []
  hp = experiment.final_hparams(problem, model_cls, requested, str(tmp_path), log=logs.append)
  assert (hp.target_vocab_size, hp.input_vocab_size, hp.has_inputs) == (12, 12, True)
  assert hp.activation_dtype == "bfloat16" and "auto -> bfloat16" in logs[0]
  assert (requested.activation_dtype, requested.target_vocab_size) == ("auto", 0)
  with pytest.raises(TypeError, match="cannot change hparam 'hidden_size': these hparams "
                                      "are resolved"):
    hp.hidden_size = 64
  with pytest.raises(TypeError, match="resolved"):
    hp.parse("batch_size=8")
  assert hp.copy().parse("batch_size=8").batch_size == 8  # a copy is changeable
  # config.gin records the user's overrides, auto as the dtype it became, no vocabulary
  assert experiment.overrides("transformer_tiny", requested, hp) == {
      "hidden_size": 32, "activation_dtype": "bfloat16"}
  resumed = experiment.final_hparams(problem, model_cls, requested, str(tmp_path),
                                     log=logs.append, run_dtype="float32")
  assert resumed.activation_dtype == "float32"
  # ... even where it became the set's own dtype (the run asked for auto)
  assert experiment.overrides("transformer_tiny", requested, resumed) == {
      "hidden_size": 32, "activation_dtype": "float32"}


def test_final_hparams_without_a_problem_take_the_benchmarks_vocabulary():
  model_cls = registry.model("transformer")
  hp = experiment.final_hparams(None, model_cls, registry.hparams("transformer_tiny"),
                                vocab_size=40)
  assert (hp.target_vocab_size, hp.input_vocab_size, hp.activation_dtype) == (40, 40,
                                                                              "float32")
