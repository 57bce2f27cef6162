"""The word vocabulary: its top-K words, and hashed buckets for every other word."""
import pytest
import tensorflow as tf

from t2t_lite.data import text_encoder
from t2t_lite.errors import UserError

TEXTS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"]


def test_the_most_frequent_words_get_ids_and_the_rest_hashed_buckets(tmp_path):
  encoder = text_encoder.WordTextEncoder.build(TEXTS, max_words=4, num_oov_buckets=3)
  # the: 4, a: 2, cat: 2, dog: 2, on: 2, sat: 2 (ties alphabetically), then the rest.
  assert encoder.words == text_encoder.RESERVED_TOKENS + ["the", "a", "cat", "dog"]
  assert encoder.vocab_size == 2 + 4 + 3
  ids = encoder.encode("the cat saw a zebra")
  assert ids[:2] == [2, 4] and ids[3] == 3
  for word, i in (("saw", ids[2]), ("zebra", ids[4])):
    bucket = int(tf.strings.to_hash_bucket_fast(word, 3))
    assert i == 6 + bucket  # after the reserved ids and the words: TF's Fingerprint64
  assert encoder.decode(ids + [text_encoder.EOS_ID, 5]) == "the cat <UNK> a <UNK>"
  path = str(tmp_path / "words.txt")
  encoder.store_to_file(path)
  again = text_encoder.WordTextEncoder(path, num_oov_buckets=3)
  assert again.words == encoder.words and again.encode("the cat saw a zebra") == ids


def test_rare_words_keep_apart_in_many_buckets_and_share_one_unk_in_one():
  rare = [f"w{i}" for i in range(200)]
  many = text_encoder.WordTextEncoder.build(TEXTS, 4, num_oov_buckets=64)
  one = text_encoder.WordTextEncoder.build(TEXTS, 4, num_oov_buckets=1)
  assert len(set(many.encode(" ".join(rare)))) > 50
  assert set(one.encode(" ".join(rare))) == {6}


def test_a_damaged_vocabulary_and_a_bad_bucket_count_are_errors(tmp_path):
  path = tmp_path / "words.txt"
  path.write_text("the\ncat\n")
  with pytest.raises(UserError, match="must start with"):
    text_encoder.WordTextEncoder(str(path))
  with pytest.raises(UserError, match="num_oov_buckets=0 must be >= 1"):
    text_encoder.WordTextEncoder(words=text_encoder.RESERVED_TOKENS, num_oov_buckets=0)
