"""The LM prefix beam search: without the LM's weight it is the exact CTC prefix beam
search; with it, the language model picks between acoustically close transcripts."""
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite.data.speech_encoders import CharacterEncoder
from t2t_lite.decoding import ctc, ctc_lm, ngram_lm

ENCODER = CharacterEncoder()
WORDS = ctc_lm.Words(ENCODER.pieces)


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("lm") / "lm.arpa")
  ngram_lm.estimate_arpa(["a cab", "a cab ride", "the cab", "a cab to go"] * 5, path, 3)
  return ngram_lm.WordScorer(ngram_lm.load(path))


def _exhaustive(log_probs, beam):
  """Textbook prefix beam search: every prefix's children, merged, best `beam` kept."""
  beams = {(): (0.0, -np.inf)}
  for frame in log_probs:
    grown = {}
    for ids, (blank, label) in beams.items():
      total = np.logaddexp(blank, label)
      b, l = grown.get(ids, (-np.inf, -np.inf))
      grown[ids] = (np.logaddexp(b, total + frame[0]),
                    np.logaddexp(l, label + frame[ids[-1]]) if ids else l)
      for c in range(1, len(frame)):
        previous = blank if ids and ids[-1] == c else total
        b, l = grown.get(ids + (c,), (-np.inf, -np.inf))
        grown[ids + (c,)] = (b, np.logaddexp(l, previous + frame[c]))
    beams = dict(sorted(grown.items(), key=lambda kv: -np.logaddexp(*kv[1]))[:beam])
  return list(max(beams, key=lambda k: np.logaddexp(*beams[k])))


@pytest.mark.parametrize("seed", range(6))
def test_without_lm_weight_it_is_the_exact_prefix_beam_search(scorer, seed):
  rng = np.random.default_rng(seed)
  logits = rng.normal(size=(int(rng.integers(4, 30)), 30)) * rng.uniform(1, 5)
  logits[:, 0] += 2.0
  log_probs = tf.nn.log_softmax(logits).numpy()
  for beam in (1, 3, 8):
    got, _ = ctc_lm.LanguageModelSearch(WORDS, scorer, 0.0, 0.0, beam).decode(log_probs)
    assert got == _exhaustive(log_probs, beam)
  # ... which is what TensorFlow's decoder finds on such (peaky) frames.
  tf_ids, _ = ctc.beam_search(tf.constant(logits[None], tf.float32),
                              tf.constant([len(logits)]), 8)
  assert got == [i for i in tf_ids.numpy()[0].tolist() if i]


def _frames(text_probs):
  """Log-probabilities of frames, each a {character: probability} (rest: blank)."""
  rows = []
  for probs in text_probs:
    row = np.full(30, 1e-6)
    for ch, p in probs.items():
      row[ENCODER.encode(ch)[0] if ch != " " else ENCODER.pieces.index(" ")] = p
    row[0] = max(1e-6, 1 - sum(probs.values()))
    rows.append(np.log(row / row.sum()))
  return np.array(rows)


def test_the_language_model_picks_the_word_it_knows(scorer):
  # "a cab" against the acoustically likelier "a cob": the LM has only seen "cab".
  frames = _frames([{"a": 0.9}, {" ": 0.9}, {"c": 0.9}, {"o": 0.55, "a": 0.45}, {"b": 0.9}])
  plain = ctc_lm.LanguageModelSearch(WORDS, scorer, 0.0, 0.0, 8).decode(frames)[0]
  assert ENCODER.decode(plain) == "a cob"
  fused = ctc_lm.LanguageModelSearch(WORDS, scorer, 1.0, 0.0, 8).decode(frames)[0]
  assert ENCODER.decode(fused) == "a cab"


def test_sentencepiece_pieces_make_words():
  words = ctc_lm.Words(["", "", "\u2581a", "\u2581ca", "b", "\u2581"], "\u2581")
  assert words.starts == [False, False, True, True, False, True]
  assert words.text == ["", "", "a", "ca", "b", ""]
