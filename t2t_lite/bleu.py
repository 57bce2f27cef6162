"""Corpus BLEU as papers report it: sacrebleu, with its signature.

sacrebleu is the field's standard (Post, 2018): it tokenizes the detokenized text itself
(13a), so scores are comparable across systems and vocabularies, and its signature states
exactly how a score was computed.
"""
import sacrebleu

from t2t_lite.errors import UserError


def corpus_bleu(hypotheses, references, tokenize="13a", lowercase=False):
  """(sacrebleu BLEUScore, signature string) of hypotheses against one reference each."""
  if len(hypotheses) != len(references):
    raise UserError(f"{len(hypotheses)} translations but {len(references)} references; "
                    "the files must have one line per sentence each")
  metric = sacrebleu.BLEU(tokenize=tokenize, lowercase=lowercase)
  result = metric.corpus_score(list(hypotheses), [list(references)])
  return result, str(metric.get_signature())
