"""translate_from_files: the user's parallel text, vocabularies and the errors they meet."""
import os

import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.errors import UserError
from tests.problems.synthetic_language import corpus

PAIRS = corpus(400, seed=1)


def _write(path, lines, mode="w"):
  with open(path, mode) as f:
    f.write(lines if isinstance(lines, (str, bytes)) else "".join(l + "\n" for l in lines))
  return str(path)


def _problem(settings, data_dir):
  problem = registry.problem("translate_from_files")
  problem.configure(settings, str(data_dir))
  return problem


def _decoded(problem, data_dir, split):
  enc = problem.feature_encoders(str(data_dir))
  out = []
  for f in problem.data_files(str(data_dir), split):
    for r in tf.data.TFRecordDataset(f):
      ex = problem.decode_example(r)
      out.append((enc["inputs"].decode(ex["inputs"].numpy()),
                  enc["targets"].decode(ex["targets"].numpy())))
  return out


@pytest.mark.parametrize("vocab", ["vocab_type=sentencepiece,approx_vocab_size=100",
                                   "vocab_type=sentencepiece,sentencepiece_model_type=bpe,"
                                   "approx_vocab_size=120,shared_vocab=False",
                                   "vocab_type=byte", "vocab_type=character",
                                   "vocab_type=word,approx_vocab_size=100000"])
def test_tsv_round_trips_through_every_vocabulary(tmp_path, vocab):
  tsv = _write(tmp_path / "train.tsv", [f"{s}\t{t}" for s, t in PAIRS])
  problem = _problem(f"train_tsv={tsv},dev_fraction=0.1,{vocab}", tmp_path / "data")
  problem.generate_data(str(tmp_path / "data"), log=lambda *_: None)
  train, dev = (_decoded(problem, tmp_path / "data", s) for s in ("train", "dev"))
  assert sorted(train + dev) == sorted(PAIRS)  # every pair, exactly once, intact
  assert 10 <= len(dev) <= 80
  # The held-out split depends on the pairs only: the same on every run.
  again = _problem("", tmp_path / "data")
  assert again.settings.train_tsv == tsv


def test_two_aligned_files_and_explicit_dev_files(tmp_path):
  src = _write(tmp_path / "train.en", [s for s, _ in PAIRS[:300]])
  tgt = _write(tmp_path / "train.xx", [t for _, t in PAIRS[:300]])
  dsrc = _write(tmp_path / "dev.en", [s for s, _ in PAIRS[300:]])
  dtgt = _write(tmp_path / "dev.xx", [t for _, t in PAIRS[300:]])
  data = tmp_path / "data"
  problem = _problem(f"train_source={src},train_target={tgt},dev_source={dsrc},"
                     f"dev_target={dtgt},approx_vocab_size=100", data)
  problem.generate_data(str(data), log=lambda *_: None)
  assert sorted(_decoded(problem, data, "train")) == sorted(PAIRS[:300])
  assert sorted(_decoded(problem, data, "dev")) == sorted(PAIRS[300:])


def test_vocabulary_is_reused_and_never_silently_rebuilt(tmp_path):
  tsv = _write(tmp_path / "train.tsv", [f"{s}\t{t}" for s, t in PAIRS])
  data = tmp_path / "data"
  problem = _problem(f"train_tsv={tsv},approx_vocab_size=100", data)
  problem.generate_data(str(data), log=lambda *_: None)
  model = str(data / "translate_from_files.shared.sp.model")
  before = os.stat(model).st_mtime_ns
  logs = []
  _problem("", data).write_vocab(str(data), log=logs.append)
  assert os.stat(model).st_mtime_ns == before and "existing vocabulary" in logs[0]
  with pytest.raises(UserError, match=r"approx_vocab_size=100 \(now 500\)"):
    _problem("approx_vocab_size=500", data)


@pytest.mark.parametrize("content,message", [
    (b"a b\tc d\nno tab here\n", r"train.tsv line 2 has no TAB"),
    (b"a b\tc d\n\tc d\n", r"train.tsv line 2 has an empty source"),
    (b"a b\tc d\nx \xff y\tz\n", r"train.tsv line 2 is not UTF-8"),
])
def test_bad_tsv_lines_are_named(tmp_path, content, message):
  tsv = _write(tmp_path / "train.tsv", content, "wb")
  problem = _problem(f"train_tsv={tsv}", tmp_path / "data")
  with pytest.raises(UserError, match=message):
    problem.generate_data(str(tmp_path / "data"), log=lambda *_: None)
  assert not [f for f in os.listdir(tmp_path / "data") if "-train-" in f]


def test_misaligned_files_and_empty_lines_are_named(tmp_path):
  src = _write(tmp_path / "a.en", ["one", "two", "three"])
  tgt = _write(tmp_path / "a.xx", ["uno", "dos"])
  problem = _problem(f"train_source={src},train_target={tgt}", tmp_path / "d1")
  with pytest.raises(UserError, match=r"a.en has 3 lines but .*a.xx has 2"):
    problem.generate_data(str(tmp_path / "d1"), log=lambda *_: None)
  tgt = _write(tmp_path / "b.xx", ["uno", "", "tres"])
  problem = _problem(f"train_source={src},train_target={tgt}", tmp_path / "d2")
  with pytest.raises(UserError, match=r"b.xx line 2 is empty"):
    problem.generate_data(str(tmp_path / "d2"), log=lambda *_: None)


def test_settings_errors(tmp_path):
  with pytest.raises(UserError, match="needs its training text"):
    _problem("", tmp_path / "d").generate_data(str(tmp_path / "d"), log=lambda *_: None)
  with pytest.raises(UserError, match="did you mean train_tsv"):
    _problem("train_tvs=x.tsv", tmp_path / "d")
  with pytest.raises(UserError, match="vocab_type='words' must be one of"):
    _problem("vocab_type=words", tmp_path / "d")
  with pytest.raises(UserError, match="does not exist"):
    _problem(f"train_tsv={tmp_path}/missing.tsv", tmp_path / "d").generate_data(
        str(tmp_path / "d"), log=lambda *_: None)


def test_a_word_vocabulary_hashes_its_rare_words_into_buckets(tmp_path):
  tsv = _write(tmp_path / "train.tsv", [f"{s}\t{t}" for s, t in PAIRS])
  data = tmp_path / "data"
  problem = _problem(f"train_tsv={tsv},vocab_type=word,approx_vocab_size=20,"
                     "num_oov_buckets=16", data)
  problem.generate_data(str(data), log=lambda *_: None)
  encoder = problem.feature_encoders(str(data))["targets"]
  assert encoder.vocab_size == 2 + 20 + 16
  words = {w for pair in PAIRS for s in pair for w in s.split()}
  rare = sorted(w for w in words if w not in encoder.words)
  assert len(rare) > 16 and {i for w in rare for i in encoder.encode(w)} <= set(range(22, 38))
  assert all("<UNK>" in t or set(t.split()) <= set(encoder.words)
             for _, t in _decoded(problem, data, "train"))
  with pytest.raises(UserError, match=r"num_oov_buckets=16 \(now 8\)"):
    _problem("num_oov_buckets=8", data)
  with pytest.raises(UserError, match="num_oov_buckets=4 applies to vocab_type=word"):
    _problem(f"train_tsv={tsv},num_oov_buckets=4", tmp_path / "other")
