import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import speech_metrics

# (hypothesis, reference, word errors, reference words, char errors, reference chars),
# counted by hand.
CASES = [
    ("the cat sat", "the cat sat", 0, 3, 0, 11),
    ("the bat sat", "the cat sat", 1, 3, 1, 11),        # one substitution
    ("the cat", "the cat sat", 1, 3, 4, 11),            # deleted word: " sat"
    ("a the cat sat", "the cat sat", 1, 3, 2, 11),      # inserted word: "a "
    ("", "hello world", 2, 2, 11, 11),                  # empty hypothesis
    ("hello world", "", 2, 0, 11, 0),                   # empty reference
    ("kitten", "sitting", 1, 1, 3, 7),                  # the classic: k->s, e->i, +g
    ("it's  here ", "its here", 1, 2, 1, 8),            # apostrophe; spaces normalized
    ("ab cd ef", "cd ef ab", 2, 3, 6, 8),               # a moved word: 2 edits each way
]
HYPS = [c[0] for c in CASES]
REFS = [c[1] for c in CASES]


@pytest.mark.parametrize("hyp,ref,word_errors,words,char_errors,chars", CASES)
def test_edit_distances_match_hand_counts(hyp, ref, word_errors, words, char_errors, chars):
  assert speech_metrics.edit_distance(hyp.split(), ref.split()) == word_errors
  assert speech_metrics.edit_distance(" ".join(hyp.split()), " ".join(ref.split())) == char_errors


def test_corpus_rates_are_total_errors_over_total_reference_length():
  rates = speech_metrics.error_rates(HYPS, REFS)
  assert rates["wer"] == pytest.approx(sum(c[2] for c in CASES) / sum(c[3] for c in CASES))
  assert rates["cer"] == pytest.approx(sum(c[4] for c in CASES) / sum(c[5] for c in CASES))


def test_in_graph_sums_equal_python():
  sums = speech_metrics.text_error_sums(tf.constant(HYPS), tf.constant(REFS))
  assert float(sums["word_errors"]) == sum(c[2] for c in CASES)
  assert float(sums["words"]) == sum(c[3] for c in CASES)
  assert float(sums["char_errors"]) == sum(c[4] for c in CASES)
  assert float(sums["chars"]) == sum(c[5] for c in CASES)


def test_agrees_with_jiwer():
  import jiwer  # the reference implementation (a test dependency)
  rng = np.random.default_rng(0)
  words = ["a", "an", "the", "cat", "cats", "sat", "it's"]
  refs = [" ".join(rng.choice(words, rng.integers(1, 8))) for _ in range(50)]
  hyps = [" ".join(rng.choice(words, rng.integers(0, 8))) for _ in range(50)]
  rates = speech_metrics.error_rates(hyps, refs)
  assert rates["wer"] == pytest.approx(jiwer.wer(refs, hyps))
  assert rates["cer"] == pytest.approx(jiwer.cer(refs, hyps))


def test_table_detokenizer_chars_and_sentencepiece_pieces():
  chars = speech_metrics.table_detokenizer(["", "", " ", "a", "b"])
  ids = tf.constant([[3, 2, 4, 1, 3], [4, 4, 0, 0, 0]])  # EOS and padding are dropped
  assert chars(ids).numpy().tolist() == [b"a b", b"bb"]
  sp = speech_metrics.table_detokenizer(["", "", "\u2581the", "\u2581ca", "t"],
                                        word_boundary="\u2581")
  assert sp(tf.constant([[2, 3, 4]])).numpy().tolist() == [b"the cat"]
