"""Sweep files -> trials: grid, zip, random ranges, ranged hparams, names, validation."""
import textwrap

import pytest

from t2t_lite import gin_config, registry
from t2t_lite.errors import UserError
from t2t_lite.sweep import ranges, spec, validate

BASE = """
[base]
experiment.problem = "algorithmic_reverse_decimal40"
experiment.model = "transformer"
experiment.hparams_set = "transformer_tiny"
Trainer.train_steps = 20
"""


def _load(tmp_path, text):
  path = tmp_path / "sweep.toml"
  path.write_text(textwrap.dedent(text))
  return spec.load(str(path))


def test_grid_is_the_product_and_names_are_stable(tmp_path):
  sweep = _load(tmp_path, BASE + """
      [grid]
      learning_rate_constant = [0.5, 1.0]
      hparams.num_hidden_layers = [1, 2]
      """)
  assert [t.overrides for t in sweep.trials] == [
      {"hparams.learning_rate_constant": 0.5, "hparams.num_hidden_layers": 1},
      {"hparams.learning_rate_constant": 0.5, "hparams.num_hidden_layers": 2},
      {"hparams.learning_rate_constant": 1.0, "hparams.num_hidden_layers": 1},
      {"hparams.learning_rate_constant": 1.0, "hparams.num_hidden_layers": 2}]
  names = [t.name for t in sweep.trials]
  assert len(set(names)) == 4
  assert names[0].startswith("learning_rate_constant=0.5,num_hidden_layers=1-")
  # The name depends on the overrides alone: not on order, position or the base.
  assert spec.trial_name({"hparams.num_hidden_layers": 1, "hparams.learning_rate_constant": 0.5}
                         ).split("-")[-1] == names[0].split("-")[-1]
  again = _load(tmp_path, BASE.replace("20", "40") + """
      [grid]
      hparams.num_hidden_layers = [2]
      learning_rate_constant = [1.0]
      """)
  assert again.trials[0].name.split("-")[-1] == names[3].split("-")[-1]
  assert sweep.base["Trainer.train_steps"] == 20
  bindings = sweep.bindings(sweep.trials[0], ["Trainer.eval_steps = 2"])
  assert bindings[0] == 'experiment.problem = "algorithmic_reverse_decimal40"'
  assert bindings[-3:] == ["Trainer.eval_steps = 2", "hparams.learning_rate_constant = 0.5",
                           "hparams.num_hidden_layers = 1"]


def test_zip_pairs_and_sections_multiply(tmp_path):
  sweep = _load(tmp_path, BASE + """
      [zip]
      hidden_size = [32, 64]
      filter_size = [64, 128]
      [grid]
      Trainer.seed = [1, 2]
      """)
  combos = [(t.overrides["Trainer.seed"], t.overrides["hparams.hidden_size"],
             t.overrides["hparams.filter_size"]) for t in sweep.trials]
  assert sorted(combos) == [(1, 32, 64), (1, 64, 128), (2, 32, 64), (2, 64, 128)]


def test_random_search_log_scale_and_ranged_hparams(tmp_path):
  sweep = _load(tmp_path, BASE + """
      [random]
      trials = 200
      seed = 3
      ranged_hparams = "transformer_base_range"
      learning_rate_constant = {min = 0.001, max = 1.0, scale = "log"}
      num_heads = {values = [2, 4]}
      hparams.num_hidden_layers = {min = 1, max = 3, type = "int"}
      """)
  assert len(sweep.trials) == 200
  lrs = [t.overrides["hparams.learning_rate_constant"] for t in sweep.trials]
  assert all(0.001 <= x <= 1.0 for x in lrs)
  # Log-uniform: about a third of the draws in each decade.
  for low in (0.001, 0.01, 0.1):
    share = sum(low <= x < low * 10 for x in lrs) / len(lrs)
    assert 0.2 < share < 0.47, (low, share)
  assert {t.overrides["hparams.num_heads"] for t in sweep.trials} == {2, 4}
  assert {t.overrides["hparams.num_hidden_layers"] for t in sweep.trials} == {1, 2, 3}
  # From the registered ranged set (Tensor2Tensor's transformer_base_range).
  warmups = {t.overrides["hparams.learning_rate_warmup_steps"] for t in sweep.trials}
  assert warmups <= {1000, 2000, 4000, 8000, 16000} and len(warmups) > 3
  assert all(0.97 <= t.overrides["hparams.optimizer_adam_beta2"] <= 0.99 for t in sweep.trials)
  # Same seed, same trials.
  assert [t.name for t in _load(tmp_path, (tmp_path / "sweep.toml").read_text()).trials] == \
      [t.name for t in sweep.trials]


def test_reverse_log_scale_is_dense_near_the_top():
  import random
  r = ranges.Range("b", 0.01, 1.0, ranges.REVERSE_LOG_SCALE)
  draws = [r.sample(random.Random(i)) for i in range(400)]
  assert all(0.01 <= x <= 1.0 for x in draws)
  assert sum(x > 0.9 for x in draws) > 150  # log-uniform would put ~2% there


def test_registered_ranged_hparams_use_t2t_api():
  found = ranges.ranged("transformer_base_range")
  assert found["learning_rate_constant"].scale == ranges.LOG_SCALE
  assert "transformer_base_range" in registry.ranged_hparams.names()
  with pytest.raises(UserError, match="did you mean transformer_base_range"):
    ranges.ranged("transformer_base_rang")


@pytest.mark.parametrize("text,message", [
    ("[grid]\nx = 3\n", "must be a non-empty list"),
    ("[zip]\nx = [1, 2]\ny = [1]\n", "one length"),
    ("[random]\nx = {min = 1, max = 2}\n", "trials = a positive number"),
    ("[random]\ntrials = 2\nx = {min = 0, max = 2, scale = \"log\"}\n", "needs min > 0"),
    ("[random]\ntrials = 2\nx = {low = 0, max = 2}\n", "unknown key low"),
    ("[grdi]\nx = [1]\n", "did you mean grid"),
    ("[grid]\nx = [1, 1]\n", "trials 1 and 2 are the same"),
    ("[grid\n", "not valid TOML"),
])
def test_bad_sweep_files(tmp_path, text, message):
  with pytest.raises(UserError, match=message):
    _load(tmp_path, text)


@pytest.mark.parametrize("binding,message", [
    ('Trainer.train_step = [20]', "trial 2 (train_step=20): gin configurable 'Trainer' has no "
                                  "parameter 'train_step'.*did you mean train_steps"),
    ('hparams.hiden_size = [32]', "trial 2 (hiden_size=32): unknown hparam 'hiden_size'.*"
                                  "did you mean hidden_size"),
    ('experiment.model = ["transfromer"]', "trial 2 (model=transfromer): unknown model "
                                           "'transfromer'; did you mean transformer"),
    ('Trainr.seed = [1]', "trial 2 (seed=1): unknown gin configurable 'Trainr' in binding "
                          "'Trainr.seed = 1'; did you mean Trainer"),
])
def test_validation_names_the_trial_and_the_closest_names(tmp_path, binding, message):
  # Trial 1 is the base alone (valid but for its data); trial 2 carries the mistake.
  sweep = _load(tmp_path, BASE + f"""
      [zip]
      {binding.split(" = ")[0]} = ["__base__", {binding.split(" = ")[1][1:-1]}]
      """)
  sweep.trials[0].overrides = {}
  with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
    validate.check_trial(sweep, sweep.trials[1])
  assert not gin_config.configurable_names() == []  # registrations stay; bindings cleared
  with pytest.raises(UserError, match="trial 1 .*no experiment.data_dir"):
    validate.check_trial(sweep, sweep.trials[0])


def test_validation_requires_data_and_a_train_and_evaluate_schedule(tmp_path):
  sweep = _load(tmp_path, BASE + f"""
      experiment.data_dir = "{tmp_path / 'nothing'}"
      [grid]
      run.schedule = ["train_and_evaluate", "train"]
      """)
  with pytest.raises(UserError, match="trial 1 .*no train data"):
    validate.check_trial(sweep, sweep.trials[0])
  with pytest.raises(UserError, match="trial 2 .*a sweep compares eval metrics"):
    validate.check_trial(sweep, sweep.trials[1])
