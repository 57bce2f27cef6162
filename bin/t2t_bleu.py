"""t2t-bleu: corpus BLEU of a translation file against a reference file, with sacrebleu.

  t2t-bleu --translation=out.de --reference=newstest2014.de

Prints the score and sacrebleu's signature (how it was computed), e.g.
  BLEU = 27.31 (nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0)
and, with --json, one JSON line instead.
"""
import json

from t2t_lite import bleu, options
from t2t_lite.bin import common_flags
from t2t_lite.data import text_files
from t2t_lite.errors import UserError
from t2t_lite.options import setting


@options.group("Bleu")
class BleuOptions(options.Options):
  translation: str | None = setting(None, "The system's output, one sentence per line.")
  reference: str | None = setting(None, "The reference translations, line-aligned.")
  tokenize: str = setting("13a", "sacrebleu's tokenizer (13a: the WMT standard).",
                          choices=("13a", "intl", "zh", "ja-mecab", "char", "none"))
  lowercase: bool = setting(False, "Case-insensitive BLEU.")
  json: bool = setting(False, "Print one JSON line: score, signature, n-gram precisions.")


common_flags.define_flags(BleuOptions)
common_flags.define_gin_flags()


def configuration():
  """BleuOptions from the flags and gin (Bleu.*)."""
  common_flags.parse_gin(BleuOptions)
  return BleuOptions.from_config()


def _read(path, flag):
  if not path:
    raise UserError(f"missing --{flag}")
  lines = [line for _, line in text_files.numbered_lines(path, f"--{flag}")]
  if not lines:
    raise UserError(f"--{flag}={path} is empty")
  return lines


def main(argv):
  settings = configuration()
  hypotheses = _read(settings.translation, "translation")
  references = _read(settings.reference, "reference")
  result, signature = bleu.corpus_bleu(hypotheses, references, settings.tokenize,
                                       settings.lowercase)
  if settings.json:
    print(json.dumps({"bleu": result.score, "signature": signature,
                      "precisions": result.precisions, "brevity_penalty": result.bp,
                      "sentences": len(hypotheses)}))
  else:
    print(f"BLEU = {result.score:.2f} ({signature})")
    print(f"  {result}")


def run():
  common_flags.run_main(main, "t2t-bleu")


if __name__ == "__main__":
  run()
