"""sacrebleu's corpus BLEU, with its signature; mismatched line counts are user errors."""
import pytest

from t2t_lite import bleu
from t2t_lite.errors import UserError


def test_bleu_and_signature():
  result, signature = bleu.corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"])
  assert result.score == pytest.approx(100.0) and "tok:13a" in signature
  worse, _ = bleu.corpus_bleu(["the dog sat on a mat"], ["the cat sat on the mat"])
  assert worse.score < 50
  with pytest.raises(UserError, match="2 translations but 1 references"):
    bleu.corpus_bleu(["a", "b"], ["a"])
