import os

import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.data.text_encoder import EOS_ID


@pytest.fixture
def small(monkeypatch):
  """Shrinks the algorithmic problems' split sizes so generation is instant."""
  from t2t_lite.problems import algorithmic
  monkeypatch.setattr(algorithmic.AlgorithmicProblem, "train_size", 200)
  monkeypatch.setattr(algorithmic.AlgorithmicProblem, "dev_size", 50)
  monkeypatch.setattr(algorithmic.AlgorithmicProblem, "long_size", 20)


def _read(problem, data_dir, split):
  out = []
  for f in problem.data_files(data_dir, split):
    for rec in tf.data.TFRecordDataset(f):
      ex = problem.decode_example(rec)
      out.append({k: v.numpy().tolist() for k, v in ex.items()})
  return out


def _symbols(ids):
  assert ids[-1] == EOS_ID
  return [i - 2 for i in ids[:-1]]


@pytest.mark.parametrize("name,check", [
    ("algorithmic_identity_binary40", lambda x, y: y == x),
    ("algorithmic_identity_decimal40", lambda x, y: y == x),
    ("algorithmic_reverse_decimal40", lambda x, y: y == x[::-1]),
    ("algorithmic_reverse_binary40", lambda x, y: y == x[::-1]),
    ("algorithmic_sort_problem", lambda x, y: y == sorted(x)),
    ("algorithmic_shift_decimal40", lambda x, y: y == [(i + 10) % 20 for i in x]),
])
def test_sequence_problems(tmp_path, small, name, check):
  problem = registry.problem(name)
  problem.generate_data(str(tmp_path), log=lambda *a: None)
  train = _read(problem, str(tmp_path), "train")
  assert len(train) == 200
  for ex in train:
    x, y = _symbols(ex["inputs"]), _symbols(ex["targets"])
    assert 1 <= len(x) <= 40 and check(x, y)
    assert max(x) < problem.num_symbols
  names = sorted(os.listdir(tmp_path))
  assert f"{name}-train-00000-of-00010" in names and f"{name}-dev-00000-of-00001" in names
  assert f"vocab.{name}.txt" in names


@pytest.mark.parametrize("name,base,op", [
    ("algorithmic_addition_binary40", 2, int.__add__),
    ("algorithmic_addition_decimal40", 10, int.__add__),
    ("algorithmic_multiplication_decimal40", 10, int.__mul__),
])
def test_arithmetic_problems(tmp_path, small, name, base, op):
  problem = registry.problem(name)
  problem.generate_data(str(tmp_path), log=lambda *a: None)
  for ex in _read(problem, str(tmp_path), "dev"):
    x, y = _symbols(ex["inputs"]), _symbols(ex["targets"])
    assert len(x) <= 40
    split = x.index(base)  # the operator symbol's id follows the digits
    n1, n2 = (sum(d * base ** i for i, d in enumerate(part)) for part in (x[:split], x[split + 1:]))
    assert sum(d * base ** i for i, d in enumerate(y)) == op(n1, n2)


def test_dev_matches_train_distribution_and_long_split_is_longer(tmp_path, small):
  problem = registry.problem("algorithmic_reverse_decimal40")
  problem.generate_data(str(tmp_path), log=lambda *a: None)
  dev = [len(ex["inputs"]) - 1 for ex in _read(problem, str(tmp_path), "dev")]
  long = [len(ex["inputs"]) - 1 for ex in _read(problem, str(tmp_path), "dev_long")]
  train = _read(problem, str(tmp_path), "train")
  assert max(dev) <= 40 and max(long) > 40
  assert {tuple(ex["inputs"]) for ex in train[:50]} != {tuple(ex["inputs"]) for ex in
                                                         _read(problem, str(tmp_path), "dev")}


def test_generation_is_deterministic_and_kept(tmp_path, small):
  problem = registry.problem("algorithmic_reverse_decimal40")
  a, b = tmp_path / "a", tmp_path / "b"
  problem.generate_data(str(a), log=lambda *m: None)
  problem.generate_data(str(b), log=lambda *m: None)
  assert _read(problem, str(a), "dev") == _read(problem, str(b), "dev")
  said = []
  problem.generate_data(str(a), log=said.append)
  assert all("keeping" in s for s in said)


def test_vocabulary_round_trip(tmp_path, small):
  problem = registry.problem("algorithmic_addition_decimal40")
  problem.generate_data(str(tmp_path), log=lambda *a: None)
  enc = problem.feature_encoders(str(tmp_path))["inputs"]
  ids = enc.encode("1 2 + 3")
  assert enc.decode(ids + [EOS_ID, 5]) == "1 2 + 3"
  with pytest.raises(ValueError, match="'x'"):
    enc.encode("1 x")
