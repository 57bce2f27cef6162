"""The modified Kneser-Ney estimator writes ARPA files KenLM reads, with a proper
distribution in every context; a hand-written ARPA file is queried as written."""
import math
import random

import kenlm
import pytest

from t2t_lite.decoding import ngram_lm
from t2t_lite.errors import UserError

WORDS = ["ab", "cd", "efg", "ha", "bb", "gg"]


def _sentences(seed=0, count=300):
  rng = random.Random(seed)
  # A skewed "language": "ab" is usually followed by "cd".
  out = []
  for _ in range(count):
    words = [rng.choice(WORDS)]
    for _ in range(rng.randint(0, 4)):
      words.append("cd" if words[-1] == "ab" and rng.random() < 0.8 else rng.choice(WORDS))
    out.append(" ".join(words))
  return out


def _state(model, context):
  state = kenlm.State()
  model.BeginSentenceWrite(state)
  for word in context:
    out = kenlm.State()
    model.BaseScore(state, word, out)
    state = out
  return state


@pytest.mark.parametrize("order", [2, 3, 4])
def test_every_context_is_a_distribution(tmp_path, order):
  path = str(tmp_path / "lm.arpa")
  counts = ngram_lm.estimate_arpa(_sentences(), path, order)
  assert sorted(counts) == list(range(1, order + 1))
  model = kenlm.Model(path)
  assert model.order == order
  vocab = WORDS + ["</s>", "<unk>"]
  for context in ([], ["ab"], ["ab", "cd"], ["gg", "gg", "ha"], ["never", "seen"]):
    state = _state(model, context)
    total = sum(10 ** model.BaseScore(state, w, kenlm.State()) for w in vocab)
    assert total == pytest.approx(1.0, abs=1e-5), context


def test_kneser_ney_learns_the_corpus(tmp_path):
  path = ngram_lm.estimate_arpa(_sentences(), str(tmp_path / "lm.arpa"), 3) and \
      str(tmp_path / "lm.arpa")
  model = kenlm.Model(path)
  after_ab = _state(model, ["ab"])
  assert model.BaseScore(after_ab, "cd", kenlm.State()) > math.log10(0.6)
  assert model.BaseScore(after_ab, "gg", kenlm.State()) < math.log10(0.1)
  # An unseen word costs more than any seen one.
  start = _state(model, [])
  assert model.BaseScore(start, "zz", kenlm.State()) < min(
      model.BaseScore(start, w, kenlm.State()) for w in WORDS)


def test_a_users_arpa_file_is_scored_as_written(tmp_path):
  path = tmp_path / "user.arpa"
  path.write_text("\\data\\\nngram 1=5\nngram 2=2\n\n\\1-grams:\n-1.0\t<unk>\n-99\t<s>\t-0.5\n"
                  "-0.5\t</s>\n-0.3\tcab\t-0.2\n-0.8\tbad\n\n\\2-grams:\n-0.1\t<s> cab\n"
                  "-0.2\tcab bad\n\n\\end\\\n")
  scorer = ngram_lm.WordScorer(ngram_lm.load(str(path)))
  log_prob, state = scorer.score(scorer.start(), "cab")
  assert log_prob == pytest.approx(-0.1 * math.log(10), abs=1e-5)
  assert scorer.score(state, "bad")[0] == pytest.approx(-0.2 * math.log(10), abs=1e-5)
  # Backing off: p(</s> | cab) = backoff(cab) * p(</s>).
  assert scorer.score(state, "</s>")[0] == pytest.approx(-0.7 * math.log(10), abs=1e-5)


def test_unreadable_models_are_user_errors(tmp_path):
  with pytest.raises(UserError, match="does not exist"):
    ngram_lm.load(str(tmp_path / "missing.arpa"))
  (tmp_path / "bad.arpa").write_text("not an lm\n")
  with pytest.raises(UserError, match="is not an ARPA or KenLM binary file"):
    ngram_lm.load(str(tmp_path / "bad.arpa"))
  with pytest.raises(UserError, match="no words"):
    ngram_lm.estimate([""], 3)
  with pytest.raises(UserError, match="order must be >= 2"):
    ngram_lm.estimate(["a b"], 1)
