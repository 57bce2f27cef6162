"""Vocabularies: token, byte, character and word encoders round-trip text; ids are cut at
EOS; the word vocabulary keeps its top-K words and hashes every other word into buckets;
files are written atomically."""
import os

import pytest
import tensorflow as tf

from t2t_lite.data import text_encoder
from t2t_lite.data.text_encoder import (
  EOS_ID,
  ByteTextEncoder,
  CharacterTextEncoder,
  TokenTextEncoder,
)
from t2t_lite.errors import UserError


def test_strip_ids_cuts_at_eos_and_drops_padding():
  assert text_encoder.strip_ids([4, 0, 5, EOS_ID, 6]) == [4, 5]


def test_token_encoder_round_trip_and_file(tmp_path):
  enc = TokenTextEncoder(tokens=text_encoder.RESERVED_TOKENS + ["a", "b"])
  ids = enc.encode("a b a")
  assert enc.decode(ids + [EOS_ID, 7]) == "a b a" and enc.vocab_size == 4
  with pytest.raises(ValueError, match="'c'"):
    enc.encode("a c")
  path = str(tmp_path / "vocab.txt")
  enc.store_to_file(path)
  assert TokenTextEncoder(path).encode("b") == enc.encode("b")
  assert not [f for f in os.listdir(tmp_path) if f != "vocab.txt"]  # no temp file left


def test_byte_and_character_encoders():
  byte = ByteTextEncoder()
  assert byte.decode(byte.encode("héllo")) == "héllo"
  assert min(byte.encode("a")) >= text_encoder.NUM_RESERVED_TOKENS
  chars = CharacterTextEncoder(chars=set("abc "))
  assert chars.decode(chars.encode("cab a")) == "cab a"


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
