"""Each binary's flags as the reference reads them: from absl, with the bounds and gin
binding of the declaration each was defined from (in this process: one binary's module)."""
import json

from absl import flags as absl_flags

from t2t_lite.bin import (
  common_flags,
  t2t_bleu,  # noqa: F401 - defines its flags
)
from t2t_lite.reference import flags
from t2t_lite.training.local_cluster import LocalClusterOptions


def test_the_installed_binaries():
  binaries = flags.binaries()
  assert binaries["t2t-bleu"] == "t2t_lite.bin.t2t_bleu"
  assert binaries["t2t-trainer"] == "t2t_lite.bin.t2t_trainer"
  assert list(binaries) == sorted(binaries)


def test_a_binarys_flags_with_their_declarations():
  listed = flags._flags_of("t2t_lite.bin.t2t_bleu")  # pylint: disable=protected-access
  dumped = {f["name"]: flags.Flag(**f) for f in json.loads(json.dumps(listed))}
  assert dumped["tokenize"] == flags.Flag(
      "tokenize", "string enum", "13a", "sacrebleu's tokenizer (13a: the WMT standard).",
      "`13a`, `intl`, `zh`, `ja-mecab`, `char`, `none`", "Bleu.tokenize")
  assert dumped["lowercase"].gin == "Bleu.lowercase" and dumped["lowercase"].bounds == ""
  assert dumped["gin_param"].gin == ""  # not a declared setting


def test_a_flag_binds_the_group_that_defined_it_not_a_shared_base():
  values = absl_flags.FlagValues()
  common_flags.define_flags(LocalClusterOptions, flag_values=values)
  common_flags.define_gin_flags(values)
  assert flags._declaration(values["restart_policy"]) == (  # pylint: disable=protected-access
      "`never`, `on_failure`, `exit_code`", "LocalCluster.restart_policy")
  assert flags._declaration(values["num_workers"])[1] == "LocalCluster.num_workers"  # pylint: disable=protected-access
  assert flags._declaration(values["gin_file"]) == ("", "")  # pylint: disable=protected-access
