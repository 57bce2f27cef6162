"""gin underneath the flags: errors with closest names, one precedence, literals."""
import json
import subprocess

import gin
import pytest
from absl import flags

from t2t_lite import experiment, gin_config, options
from t2t_lite.errors import UserError
from t2t_lite.training.trainer import TrainerOptions
from tests.bin import helpers


@pytest.fixture(autouse=True)
def clean_gin():
  gin_config.clear()
  yield
  gin_config.clear()


@pytest.mark.parametrize("binding,fragments", [
    ("Trainr.train_steps = 5", ["unknown gin configurable 'Trainr'", "did you mean Trainer"]),
    ("Trainer.train_step = 5", ["'Trainer' has no parameter 'train_step'", "train_steps"]),
    ("Trainer.log = 5", ["'Trainer' has no parameter 'log'"]),  # not a setting a user binds
    ("experiment.problem = algorithmic_reverse_decimal40", ["cannot parse", "in quotes"]),
])
def test_bad_bindings_are_one_line_user_errors(binding, fragments):
  with pytest.raises(UserError) as e:
    gin_config.parse(gin_params=[binding])
  message = str(e.value)
  assert "\n" not in message and binding in message
  for fragment in fragments:
    assert fragment in message


def test_bad_gin_file(tmp_path):
  with pytest.raises(UserError, match="does not exist"):
    gin_config.parse([str(tmp_path / "nope.gin")])
  bad = tmp_path / "bad.gin"
  bad.write_text("Trainer.train_steps = 3\nmake_dataset.shuffle_bufer_size = 10\n")
  with pytest.raises(UserError, match=r"in gin file .*bad.gin.*shuffle_buffer_size"):
    gin_config.parse([str(bad)])


def test_precedence_hparams_set_then_gin_then_flag(tmp_path):
  base = experiment.resolve("algorithmic_reverse_decimal40", "transformer",
                            "transformer_tiny")[2]
  assert base.hidden_size == 128 and base.num_heads == 4
  config = tmp_path / "a.gin"
  config.write_text("hparams.hidden_size = 64\nhparams.num_heads = 2\n")
  gin_config.parse([str(config)], ["hparams.hidden_size = 32"])  # later wins
  hp = experiment.resolve("algorithmic_reverse_decimal40", "transformer", "transformer_tiny")[2]
  assert (hp.hidden_size, hp.num_heads) == (32, 2)
  hp = experiment.resolve("algorithmic_reverse_decimal40", "transformer", "transformer_tiny",
                          "hidden_size=16")[2]
  assert (hp.hidden_size, hp.num_heads) == (16, 2)  # --hparams over gin, gin kept elsewhere
  assert experiment.overrides("transformer_tiny", hp) == {"hidden_size": 16, "num_heads": 2}


def test_hparams_bind_under_their_groups_name_over_the_set():
  gin_config.parse(gin_params=["transformer.num_heads = 2", "model.hidden_size = 64",
                               "hparams.hidden_size = 32"])  # hparams.* after the groups
  hp = experiment.resolve("algorithmic_reverse_decimal40", "transformer", "transformer_tiny")[2]
  assert (hp.num_heads, hp.hidden_size) == (2, 32)
  assert experiment.overrides("transformer_tiny", hp) == {"hidden_size": 32, "num_heads": 2}
  gin_config.clear()
  with pytest.raises(UserError, match="'transformer' has no parameter 'num_head'.*num_heads"):
    gin_config.parse(gin_params=["transformer.num_head = 2"])
  gin_config.parse(gin_params=["deep_speech2.rnn_norm = 'batch'"])
  with pytest.raises(UserError, match="unknown hparam 'rnn_norm' in gin binding "
                                      "deep_speech2.rnn_norm"):
    experiment.resolve("algorithmic_reverse_decimal40", "transformer", "transformer_tiny")


def test_unknown_or_mistyped_hparam_binding():
  gin_config.parse(gin_params=["hparams.hiden_size = 32"])
  with pytest.raises(UserError, match="unknown hparam 'hiden_size' in gin binding "
                                      "hparams.hiden_size; did you mean hidden_size"):
    experiment.resolve("algorithmic_reverse_decimal40", "transformer", "transformer_tiny")
  gin_config.clear()
  gin_config.parse(gin_params=["hparams.hidden_size = 'big'"])
  with pytest.raises(UserError, match="hidden_size' is a int"):
    experiment.resolve("algorithmic_reverse_decimal40", "transformer", "transformer_tiny")


def test_only_flags_given_on_the_command_line_become_bindings():
  fv = flags.FlagValues()
  flags.DEFINE_integer("train_steps", 250000, "", flag_values=fv)
  flags.DEFINE_string("problem", None, "", flag_values=fv)
  fv(["prog", "--problem=algorithmic_reverse_decimal40"])
  mapping = {"train_steps": "Trainer.train_steps", "problem": "experiment.problem"}
  bindings = gin_config.flag_bindings(fv, mapping)
  assert bindings == ['experiment.problem = "algorithmic_reverse_decimal40"']
  gin_config.parse(gin_params=["Trainer.train_steps = 7", "experiment.problem = 'x'"],
                   flag_bindings=bindings)
  assert TrainerOptions.from_config().train_steps == 7  # gin's, the flag was not given
  assert experiment.ExperimentOptions.from_config().problem == \
      "algorithmic_reverse_decimal40"  # the flag's


def test_value_is_the_binding_or_the_default():
  assert TrainerOptions.from_config().eval_split == "dev"
  gin_config.parse(gin_params=["Trainer.eval_split = 'dev_long'"])
  assert TrainerOptions.from_config().eval_split == "dev_long"


@pytest.mark.parametrize("value", ["a'b\"c", 3, 2.5e-05, True, None, [1, "x", [2.0, False]]])
def test_literals_round_trip_through_gin(value):
  gin_config.parse(gin_params=[f"hparams.v = {gin_config.literal(value)}"])
  assert experiment.hparams_bindings()["v"] == value


def test_record_makes_the_operative_config_reproduce_the_run():
  gin_config.parse(gin_params=["Trainer.train_steps = 9"])
  gin_config.record(experiment.ExperimentOptions, problem="algorithmic_reverse_decimal40")
  gin_config.record(experiment.hparams_bindings, hidden_size=32)
  text = gin_config.config_text("t2t-trainer")
  assert "experiment.problem = 'algorithmic_reverse_decimal40'" in text
  assert "hparams.hidden_size = 32" in text
  gin_config.clear()
  gin.parse_config(text)
  assert experiment.ExperimentOptions.from_config().problem == "algorithmic_reverse_decimal40"
  assert experiment.hparams_bindings() == {"hidden_size": 32}


def test_trainer_flag_defaults_are_the_configurables_defaults():
  # The binary defines absl flags at import: look at them in a process of their own.
  code = ("import json; from t2t_lite.bin import t2t_trainer as t; "
          "from t2t_lite.bin.common_flags import FLAGS; "
          "from t2t_lite.experiment import ExperimentOptions; "
          "print(json.dumps({f: [FLAGS[f].default, b] for g in "
          "(ExperimentOptions,) + t.GIN_GROUPS for f, b in g.flag_bindings().items()}))")
  out = subprocess.run(helpers.python_c() + [code], capture_output=True, text=True,
                       check=True).stdout
  bound = json.loads(out.strip().splitlines()[-1])
  assert {"train_steps", "random_seed", "xla", "strategy", "problem"} <= set(bound)
  for flag, (default, binding) in bound.items():
    name, param = binding.split(".")
    group = options.GROUPS[name]
    assert getattr(group.from_config(), param) == default, flag
