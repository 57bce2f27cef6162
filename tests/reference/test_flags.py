"""Each binary's flags as the reference reads them: from absl, with the bounds and gin
binding of the declaration each was defined from (in this process: one binary's module)."""
import json

from t2t_lite.bin import t2t_bleu  # noqa: F401 - defines its flags
from t2t_lite.reference import flags


def test_the_installed_binaries():
  binaries = flags.binaries()
  assert binaries["t2t-bleu"] == "t2t_lite.bin.t2t_bleu"
  assert binaries["t2t-trainer"] == "t2t_lite.bin.t2t_trainer"
  assert list(binaries) == sorted(binaries)


def test_a_binarys_flags_with_their_declarations(capsys):
  flags._dump("t2t_lite.bin.t2t_bleu")  # pylint: disable=protected-access
  dumped = {f["name"]: flags.Flag(**f) for f in json.loads(capsys.readouterr().out)}
  assert dumped["tokenize"] == flags.Flag(
      "tokenize", "string enum", "13a", "sacrebleu's tokenizer (13a: the WMT standard).",
      "`13a`, `intl`, `zh`, `ja-mecab`, `char`, `none`", "Bleu.tokenize")
  assert dumped["lowercase"].gin == "Bleu.lowercase" and dumped["lowercase"].bounds == ""
  assert dumped["gin_param"].gin == ""  # not a declared setting


def test_a_flag_is_matched_to_the_declaration_whose_help_it_shows():
  declared = {"n": [("Steps.", ">= 1", "A.n"), ("Other help.", "", "B.n")]}
  flag = type("F", (), {"name": "n", "help": "Other help."})
  assert flags._declaration_of(flag, declared) == ("", "B.n")  # pylint: disable=protected-access
  flag.help = "unknown"
  assert flags._declaration_of(flag, declared) == ("", "")  # pylint: disable=protected-access
