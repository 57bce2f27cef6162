"""Vocabularies: token, byte and character encoders round-trip text; ids are cut at EOS;
files are written atomically."""
import os

import pytest

from t2t_lite.data import text_encoder
from t2t_lite.data.text_encoder import (
  EOS_ID,
  ByteTextEncoder,
  CharacterTextEncoder,
  TokenTextEncoder,
)


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
