"""The in-graph vocabularies give the ids and text of the Python encoders."""
import pytest
import tensorflow as tf

from t2t_lite.data import sentencepiece_encoder, text_encoder
from t2t_lite.serving import graph_text
from tests.problems.synthetic_language import corpus

TEXTS = ["a green garden follows a city", "every king sees the old queen", "héllo wörld ☃", ""]


def _encoders(tmp_path):
  model = str(tmp_path / "sp.model")
  sentencepiece_encoder.train(model, [s for pair in corpus(300, 3) for s in pair] + TEXTS,
                              60, log=lambda *_: None)
  return {
      "bytes": text_encoder.ByteTextEncoder(),
      "characters": text_encoder.CharacterTextEncoder(chars=set("".join(TEXTS[:2]))),
      "tokens": text_encoder.TokenTextEncoder(tokens=text_encoder.RESERVED_TOKENS +
                                              sorted(set(" ".join(TEXTS[:2]).split()))),
      "sentencepiece": sentencepiece_encoder.SentencePieceEncoder(model),
      # A small top-K: most words of TEXTS fall into the hashed buckets.
      "words": text_encoder.WordTextEncoder.build(TEXTS[:1], 3, num_oov_buckets=7),
  }


@pytest.mark.parametrize("kind", ["bytes", "characters", "tokens", "sentencepiece", "words"])
def test_encode_and_decode_match_the_python_encoder(tmp_path, kind):
  encoder = _encoders(tmp_path)[kind]
  graph = graph_text.graph_tokenizer(encoder)
  texts = TEXTS[:2] if kind == "tokens" else TEXTS
  ids = graph.encode(tf.constant(texts)).to_list()
  assert ids == [encoder.encode(t) for t in texts]
  # Decoding cuts at EOS and drops padding, like strip_ids.
  rows = [i + [text_encoder.EOS_ID, 5, 6] for i in ids]
  width = max(len(r) for r in rows)
  dense = tf.constant([r + [0] * (width - len(r)) for r in rows], tf.int32)
  decoded = [t.decode() for t in graph.decode(dense).numpy()]
  assert decoded == [encoder.decode(r) for r in dense.numpy().tolist()]
