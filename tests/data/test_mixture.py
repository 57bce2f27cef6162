"""Problem mixtures: sampling by rate (deterministic, resumable), one vocabulary with task
tokens, per-member evaluation."""
import collections
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import experiment, registry
from t2t_lite.data import input_pipeline, manifest, mixture, text_problems
from t2t_lite.data.text_encoder import EOS_ID, TaskTokenEncoder, TokenTextEncoder
from t2t_lite.errors import UserError
from t2t_lite.serving import graph_text
from t2t_lite.training import provenance, run_dir
from t2t_lite.training.trainer import Trainer, TrainerOptions
from tests.problems.synthetic_language import corpus

REVERSE, IDENTITY = "algorithmic_reverse_decimal40", "algorithmic_identity_decimal40"
MIX = f"{REVERSE}+{IDENTITY}"


def _constant(value):
  return tf.data.Dataset.from_tensors(tf.constant(value, tf.int64)).repeat()


def test_sampling_follows_the_rates_within_binomial_noise():
  n, rate = 4000, 0.7
  ds = input_pipeline.sample_by_rate([_constant(0), _constant(1)], [7.0, 3.0], seed=11)
  draws = np.array(list(ds.take(n).as_numpy_iterator()))
  share = float(np.mean(draws == 0))
  assert abs(share - rate) < 4 * np.sqrt(rate * (1 - rate) / n), share
  again = np.array(list(input_pipeline.sample_by_rate(
      [_constant(0), _constant(1)], [7.0, 3.0], seed=11).take(n).as_numpy_iterator()))
  np.testing.assert_array_equal(draws, again)  # the same seed, the same choices
  three = input_pipeline.sample_by_rate([_constant(0), _constant(1), _constant(2)],
                                        [1, 1, 2], seed=3)
  counts = collections.Counter(three.take(n).as_numpy_iterator())
  assert abs(counts[2] / n - 0.5) < 4 * np.sqrt(0.25 / n)


def test_sampling_resumes_from_a_checkpointed_iterator(tmp_path):
  def make():
    return iter(input_pipeline.sample_by_rate([_constant(0), _constant(1)], [1.0, 1.0],
                                              seed=5))
  it = make()
  for _ in range(37):
    next(it)
  path = tf.train.Checkpoint(input=it).write(str(tmp_path / "input"))
  expected = [int(next(it)) for _ in range(50)]
  resumed = make()
  tf.train.Checkpoint(input=resumed).read(path).assert_consumed()
  assert [int(next(resumed)) for _ in range(50)] == expected


def test_task_tokens_extend_a_vocabulary_and_lead_the_text():
  base = TokenTextEncoder(tokens=["<pad>", "<EOS>", "a", "b"])
  encoder = TaskTokenEncoder(base, ("<2x>", "<2y>"))
  assert encoder.vocab_size == 6
  assert encoder.encode("<2y> a b") == [5, 2, 3] and encoder.encode("a b") == [2, 3]
  assert encoder.decode([5, 2, 3, EOS_ID, 4]) == "<2y> a b"
  # The exported (in-graph) twin encodes alike, and drops task tokens from outputs.
  graph = graph_text.graph_tokenizer(encoder)
  ids = graph.encode(tf.constant(["<2y> a b", "b a", " <2x> b"])).to_list()
  assert ids == [[5, 2, 3], [3, 2], [4, 3]]
  assert graph.decode(tf.constant([[5, 2, 3, 1], [3, 0, 0, 0]])).numpy().tolist() == [
      b"a b", b"b"]


@pytest.fixture(scope="module")
def algorithmic_mixture(tmp_path_factory):
  from t2t_lite.problems import algorithmic
  data = str(tmp_path_factory.mktemp("mixture_data"))
  cls = algorithmic.AlgorithmicProblem
  old = cls.train_size, cls.dev_size, cls.long_size
  cls.train_size, cls.dev_size, cls.long_size = 600, 60, 10
  try:
    problem = registry.problem(MIX)
    problem.configure("", data)
    problem.generate_data(data, log=lambda *_: None)
  finally:
    cls.train_size, cls.dev_size, cls.long_size = old
  return data


def test_a_named_mixture_tags_each_members_examples(algorithmic_mixture):
  data = algorithmic_mixture
  problem = registry.problem(MIX)
  problem.configure("", data)
  assert problem.tokens() == (f"<{REVERSE}>", f"<{IDENTITY}>")
  encoders = problem.feature_encoders(data)
  assert encoders["inputs"].vocab_size == 12 + 2
  files = sorted(os.listdir(data))
  assert f"{MIX}.{REVERSE}-train-00000-of-00010" in files
  assert f"{MIX}.{IDENTITY}-dev-00000-of-00001" in files
  for index, member in enumerate((REVERSE, IDENTITY)):
    view = problem.member_view(index)
    for record in tf.data.TFRecordDataset(view.data_files(data, "dev")).take(5):
      ex = {k: v.numpy().tolist() for k, v in view.decode_example(record).items()}
      assert ex["inputs"][0] == 12 + index  # the member's task token comes first
      source = ex["inputs"][1:-1]
      assert ex["targets"][:-1] == (source[::-1] if member == REVERSE else source)
  assert [label for label, _ in problem.evaluation_parts()] == [REVERSE, IDENTITY]


def test_training_samples_members_by_rate(algorithmic_mixture):
  problem, _, hp = experiment.resolve(MIX, "transformer", "transformer_tiny")
  problem.configure("", algorithmic_mixture)
  problem.set_rates((0.8, 0.2))
  problem.update_hparams(hp, algorithmic_mixture)
  ds = input_pipeline.make_dataset(problem, hp, algorithmic_mixture, "train", True, seed=2,
                                   batch_size=256)
  tokens = [int(row[0]) for batch in ds.take(60) for row in batch["inputs"].numpy()]
  share = tokens.count(12) / len(tokens)
  assert abs(share - 0.8) < 4 * np.sqrt(0.16 / len(tokens)), (share, len(tokens))
  with pytest.raises(UserError, match="2 positive numbers for"):
    problem.set_rates((1.0,))


def test_evaluation_reports_every_member(algorithmic_mixture, tmp_path):
  problem, model_cls, hp = experiment.resolve(
      MIX, "transformer", "transformer_tiny",
      "batch_size=256,hidden_size=32,filter_size=64,num_heads=2,num_hidden_layers=1")
  problem.configure("", algorithmic_mixture)
  problem.update_hparams(hp, algorithmic_mixture)
  out = str(tmp_path / "run")
  run_dir.prepare(out, {"problem": problem.name, "model": "transformer"}, hp)
  logs = []
  trainer = Trainer(problem, model_cls, hp, out, algorithmic_mixture, TrainerOptions(
      train_steps=2, eval_steps=2, local_eval_frequency=2, seed=1), log=logs.append)
  results = trainer.train_and_evaluate()
  for name in ("accuracy", "accuracy_per_sequence", "neg_log_perplexity"):
    assert {name, f"{REVERSE}/{name}", f"{IDENTITY}/{name}"} <= set(results)
  # Pooled teacher-forced metrics lie between the members'.
  per_member = [results[f"{m}/neg_log_perplexity"] for m in (REVERSE, IDENTITY)]
  assert min(per_member) - 1e-9 <= results["neg_log_perplexity"] <= max(per_member) + 1e-9


@registry.register_problem
class MixtureTestEnToXx(text_problems.Text2TextProblem):
  """The synthetic language."""
  dataset_splits = (("train", 2), ("dev", 1))

  def generate_samples(self, data_dir, tmp_dir, split):
    for source, target in corpus(80 if split == "train" else 10, seed=int(split == "dev")):
      yield {"inputs": source, "targets": target}


@registry.register_problem
class MixtureTestEnToUpper(text_problems.Text2TextProblem):
  """The same English, upper-cased: another "language" with its own characters."""
  dataset_splits = (("train", 2), ("dev", 1))

  def generate_samples(self, data_dir, tmp_dir, split):
    for source, _ in corpus(80 if split == "train" else 10, seed=2 + int(split == "dev")):
      yield {"inputs": source, "targets": source.upper()}


@registry.register_problem
class MixtureTestMultilingual(mixture.MixtureProblem):
  members = ("mixture_test_en_to_xx", "mixture_test_en_to_upper")
  rates = (3.0, 1.0)
  task_tokens = ("<2xx>", "<2up>")


def test_text_members_share_one_vocabulary_built_from_all_of_them(tmp_path):
  data = str(tmp_path)
  problem = registry.problem("mixture_test_multilingual")
  problem.configure("vocab_type=character", data)
  problem.generate_data(data, log=lambda *_: None)
  assert problem.rate_values == (3.0, 1.0)
  encoders = problem.feature_encoders(data)
  text = "<2up> the big cat"
  assert encoders["inputs"].decode(encoders["inputs"].encode(text)) == text
  # Characters of both languages are in the one vocabulary (no <UNK>, shown as ?).
  assert "?" not in encoders["targets"].decode(encoders["targets"].encode("THE CAT ehte"))
  view = problem.member_view(1)
  record = next(iter(tf.data.TFRecordDataset(view.data_files(data, "train"))))
  ex = view.decode_example(record)
  assert encoders["inputs"].decode(ex["inputs"].numpy()).startswith("<2up> ")
  assert encoders["targets"].decode(ex["targets"].numpy()).isupper()
  saved = registry.problem("mixture_test_multilingual")
  assert saved.configure("", data).vocab_type == "character"  # settings kept with the data


def test_mixture_mistakes_are_one_line():
  with pytest.raises(UserError, match="unknown problem 'algorithmic_revers'"):
    registry.problem(f"algorithmic_revers+{IDENTITY}")
  with pytest.raises(UserError, match="a mixture is named member\\+member"):
    registry.problem(f"{REVERSE}+")
  with pytest.raises(UserError, match="differ in having inputs"):
    registry.problem(f"{REVERSE}+languagemodel_from_files")
  with pytest.raises(UserError, match="expected comma-separated numbers"):
    mixture.parse_rates("0.7;0.3")


def test_each_member_has_its_manifest_checked_verified_and_fingerprinted(algorithmic_mixture):
  data = algorithmic_mixture
  problem = registry.problem(MIX)
  problem.configure("", data)
  sets = problem.shard_sets()
  assert sets == [f"{MIX}.{REVERSE}", f"{MIX}.{IDENTITY}"]
  for name in sets:
    assert manifest.is_complete(data, name, "train")
  verified = []
  problem.check_data(data, ["train", "dev"], verify=True, log=verified.append)
  assert len(verified) == 4 and all("SHA-256 as written" in line for line in verified)
  prints = provenance.data_fingerprints(problem, data, ["dev"])["dev"]
  assert set(prints) == set(sets) and all(p["records"] == 60 for p in prints.values())
  # A damaged member's shard is named before any data is read.
  shard = problem.data_files(data, "dev")[-1]
  with open(shard, "ab") as f:
    f.write(b"x")
  try:
    with pytest.raises(UserError, match=re.escape(f"problem '{MIX}.{IDENTITY}'")):
      problem.data_files(data, "dev")
  finally:
    with open(shard, "rb+") as f:
      f.truncate(os.path.getsize(shard) - 1)
