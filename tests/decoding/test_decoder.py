"""Decoding settings and the text decoder: --decode_hparams validated from their
declarations, decoded metrics by name, inputs decoded in batches and returned in order."""
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.decoding import decoder
from t2t_lite.decoding.decoder import DecodeHParams, TextDecoder
from t2t_lite.errors import UserError
from t2t_lite.t2t_model import Search


def test_decode_hparams_are_checked_against_their_declarations():
  dhp = DecodeHParams.from_string("beam_size=1,sampling_method=random,sampling_temp=0.5",
                                  "--decode_hparams")
  assert dhp.search() == Search(beam_size=1, alpha=0.6, extra_length=50, use_cache=True,
                                temperature=0.5, top_k=0, seed=0)
  for text, message in [("beam_size=0", "beam_size=0 must be >= 1"),
                        ("sampling_temp=0", "sampling_temp=0.0 must be > 0"),
                        ("sampling_method=random", "set beam_size=1"),
                        ("beam_sise=2", "did you mean beam_size")]:
    with pytest.raises(UserError, match=message):
      DecodeHParams.from_string(text, "--decode_hparams")


def test_decoded_metrics_are_known_by_name():
  decoder.check_decoded_metric_names(("bleu",), "p")
  with pytest.raises(UserError, match="unknown decode metric 'blue'; did you mean bleu"):
    decoder.check_decoded_metric_names(("blue",), "p")
  score, signature = decoder.DECODED_METRICS["bleu"][1](["a b c d"], ["a b c d"])
  assert score == pytest.approx(100.0) and "nrefs:1" in signature


class _Echo:
  """A model whose predict() echoes its sources (EOS included), to test batching."""

  def predict(self, features, search):
    inputs = features["inputs"]
    return inputs, tf.zeros([tf.shape(inputs)[0]])


def test_text_decoder_batches_by_length_and_keeps_the_input_order(tmp_path):
  problem = registry.problem("algorithmic_reverse_decimal40")
  problem.write_vocab(str(tmp_path))
  dec = TextDecoder(problem, _Echo(), None, str(tmp_path), DecodeHParams(batch_size=2))
  lines = ["1 2 3", "4", "5 6", "7 8 9 0", ""]
  assert dec.decode_lines(lines) == lines  # batches of 2, sorted by length, put back
  with pytest.raises(UserError, match="line 2"):
    dec.decode_lines(["1", "x"])
  out = tmp_path / "out.txt"
  src = tmp_path / "in.txt"
  src.write_text("3 2 1\n9\n")
  dec.decode_from_file(str(src), str(out))
  assert out.read_text() == "3 2 1\n9\n"
  assert np.array_equal(dec.decode_ids([[4, 5, 1]]), [[4, 5]])
