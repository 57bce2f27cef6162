"""A sentencepiece vocabulary trained from text: pad 0, EOS 1, round trips text."""
from t2t_lite.data import sentencepiece_encoder


def test_train_and_round_trip(tmp_path):
  texts = [f"the {w} sat on the mat" for w in ("cat", "dog", "bird", "fox")] * 30
  path = str(tmp_path / "vocab.sp.model")
  sentencepiece_encoder.train(path, texts, 40, log=lambda m: None)
  enc = sentencepiece_encoder.SentencePieceEncoder(path)
  ids = enc.encode("the dog sat on the mat")
  assert min(ids) > 1 and enc.decode(ids + [1, 5]) == "the dog sat on the mat"
  assert enc.vocab_size <= 40
