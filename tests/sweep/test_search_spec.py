"""[search] sections: parsing, and the checks of the space before the first trial."""
import textwrap

import pytest

from t2t_lite import metrics, registry
from t2t_lite.errors import UserError
from t2t_lite.sweep import ranges, spec, validate

BASE = """
[base]
experiment.problem = "algorithmic_reverse_decimal40"
experiment.model = "transformer"
experiment.hparams_set = "transformer_tiny"
experiment.data_dir = "{data_dir}"
Trainer.train_steps = 20
Trainer.local_eval_frequency = 10
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("reverse_data"))
  registry.problem("algorithmic_reverse_decimal40").generate_data(d, log=lambda m: None)
  return d


def _load(tmp_path, text, data_dir="/nowhere"):
  path = tmp_path / "search.toml"
  path.write_text(BASE.format(data_dir=data_dir) + textwrap.dedent(text))
  return spec.load(str(path))


def test_a_search_section_with_every_setting(tmp_path):
  sweep = _load(tmp_path, """
      [search]
      sampler = {name = "tpe", startup_trials = 4}
      pruner = {name = "hyperband", reduction_factor = 2}
      trials = 12
      seed = 3
      metric = "accuracy"
      direction = "maximize"
      ranged_hparams = "transformer_base_range"
      learning_rate_constant = {min = 0.001, max = 100.0, scale = "log"}
      hparams.num_heads = {values = [2, 4]}
      Trainer.seed = {min = 1, max = 9, type = "int"}
      """)
  search = sweep.search
  assert sweep.trials == [] and sweep.base["Trainer.train_steps"] == 20
  assert (search.sampler, search.sampler_options) == ("tpe", {"startup_trials": 4})
  assert (search.pruner, search.pruner_options) == ("hyperband", {"reduction_factor": 2})
  assert (search.trials, search.seed, search.metric, search.direction) == (
      12, 3, "accuracy", "maximize")
  # The registered ranges first, then the file's (which win for the same hparam).
  assert list(search.ranges)[:2] == ["hparams.learning_rate_constant",
                                     "hparams.learning_rate_warmup_steps"]
  assert search.ranges["hparams.learning_rate_constant"].high == 100.0
  assert search.ranges["Trainer.seed"].kind is int
  assert search.describe()["ranges"]["hparams.num_heads"] == {"values": [2, 4]}


def test_defaults():
  assert metrics.higher_is_better("bleu") and not metrics.higher_is_better("wer")


def test_defaults_of_the_file(tmp_path):
  search = _load(tmp_path, """
      [search]
      trials = 2
      metric = "wer"
      dropout = {min = 0.0, max = 0.5}
      """).search
  assert (search.sampler, search.pruner, search.seed, search.direction) == (
      "tpe", "median", 0, None)


@pytest.mark.parametrize("text,message", [
    ('sampler = "tep"', "sampler = 'tep': use one of tpe, cmaes, random; did you mean tpe"),
    ('pruner = {name = "median", warmup = 3}', "pruner 'median' has no option 'warmup'; it "
                                               "takes startup_trials, warmup_steps"),
    ('pruner = {name = "hyperband", reduction_factor = 1}', "reduction_factor = 1: use a whole "
                                                            "number >= 2"),
    ('sampler = {name = "random", startup_trials = 3}', "has no option 'startup_trials'; it "
                                                        "takes none"),
    ("trials = 0", "needs trials = a positive number"),
    ('direction = "max"', "direction = 'max': use \"maximize\" or \"minimize\""),
    ('trails = 4', "unknown key 'trails'; did you mean trials"),
    ('x = {values = [[1, 2], [3]]}', "a searched choice is a number, string or boolean"),
    ('x = {min = 0, max = 1, scale = "log"}', "needs min > 0"),
])
def test_mistakes_in_a_search_section(tmp_path, text, message):
  body = {"trials": "trials = 4", "metric": 'metric = "accuracy"',
          "range": "lr = {min = 0.1, max = 1.0}"}
  key = text.split(" =")[0]
  body.pop({"trials": "trials", "trails": "trials"}.get(key, "_"), None)
  with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")
                     .replace("[", r"\[").replace("+", r"\+")):
    _load(tmp_path, "[search]\n" + "\n".join(body.values()) + "\n" + text + "\n")


def test_a_search_stands_alone(tmp_path):
  with pytest.raises(UserError, match=r"\[search\] makes its own trials; move \[grid\] into "
                                      "it as ranges"):
    _load(tmp_path, """
        [grid]
        hidden_size = [32, 64]
        [search]
        trials = 2
        metric = "accuracy"
        lr = {min = 0.1, max = 1.0}
        """)
  with pytest.raises(UserError, match=r"needs metric = the eval metric"):
    _load(tmp_path, "[search]\ntrials = 2\nlr = {min = 0.1, max = 1.0}\n")


def _check(tmp_path, data_dir, search_text):
  return validate.check_search(_load(tmp_path, "[search]\ntrials = 4\n" + search_text,
                                     data_dir))


def test_the_space_is_checked_before_the_first_trial(tmp_path, data_dir):
  checked, notes = _check(tmp_path, data_dir, """
      metric = "neg_log_perplexity"
      sampler = "cmaes"
      learning_rate_constant = {min = 0.001, max = 100.0, scale = "log"}
      initializer_gain = {min = 0.5, max = 2.0}
      hparams.hidden_size = {values = [32, 48]}
      num_heads = {values = [2, 3]}
      """)
  assert (checked.train_steps, checked.local_eval_frequency) == (20, 10)
  assert checked.eval_metrics == ("accuracy", "accuracy_per_sequence", "neg_log_perplexity")
  assert notes == ["note: CMA-ES samples only numeric ranges; the lists of values are drawn "
                   "at random"]


@pytest.mark.parametrize("text,message", [
    # A typo in a range's name: the closest names.
    ("learning_rate_constnat = {min = 0.1, max = 1.0}",
     "[search] hparams.learning_rate_constnat = 0.1 (an end of its range): unknown hparam "
     "'learning_rate_constnat' in gin binding hparams.learning_rate_constnat; did you mean "
     "learning_rate_constant"),
    ("Trainer.train_step = {min = 10, max = 20, type = \"int\"}",
     "[search] Trainer.train_step = 10 (an end of its range): gin configurable 'Trainer' has no "
     "parameter 'train_step'"),
    # An end outside the hparam's declaration, a value of the wrong type.
    ("attention_dropout = {min = 0.0, max = 1.0}",
     "[search] hparams.attention_dropout = 1.0 (an end of its range): hparam "
     "attention_dropout=1.0 must be < 1"),
    ("num_heads = {min = 1, max = 4}",
     "[search] hparams.num_heads = 1.0 (an end of its range): hparam 'num_heads' is a int, got "
     "1.0"),
    # No point of the space passes the model's checks between hparams.
    ("hidden_size = {values = [30, 33]}\nnum_heads = {values = [4, 8]}",
     "[search]: none of 20 points of the space passes the model's checks, e.g. trial 1 "
     "(hidden_size=30,num_heads=4): hidden_size=30 must be divisible by num_heads=4"),
])
def test_mistakes_in_the_space(tmp_path, data_dir, text, message):
  with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")
                     .replace("[", r"\[").replace("]", r"\]")):
    _check(tmp_path, data_dir, 'metric = "accuracy"\n' + text)


@pytest.mark.parametrize("text,message", [
    ('metric = "accuracy_per_sequense"', "metric = 'accuracy_per_sequense' is not an eval metric "
                                         "of these trials; did you mean accuracy_per_sequence"),
    ('metric = "bleu"', "decoded metrics need Trainer.eval_decode_samples > 0"),
    ('metric = "accuracy"\ndirection = "minimize"', "direction = 'minimize', but accuracy is "
                                                    "higher-is-better"),
    ('metric = "accuracy"\nTrainer.local_eval_frequency = {values = [20, 40]}',
     "pruner = 'median' stops trials at evaluations before their last step, but they evaluate "
     "only at the end"),
])
def test_metric_direction_and_pruner_are_checked(tmp_path, data_dir, text, message):
  with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")
                     .replace("[", r"\[").replace("+", r"\+")):
    _check(tmp_path, data_dir, text + "\nlearning_rate_constant = {min = 0.1, max = 1.0}\n")


def test_range_ends():
  assert ranges.Range("x", 1, 8, kind=int).ends() == [1, 8]
  assert ranges.Range("x", 0.5, 2.0).ends() == [0.5, 2.0]
  assert ranges.Range("x", choices=["a", "b"]).ends() == ["a", "b"]
