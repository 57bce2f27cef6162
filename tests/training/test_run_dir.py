import pytest

from t2t_lite import registry
from t2t_lite.errors import UserError
from t2t_lite.training import run_dir

RUN = {"problem": "p", "model": "transformer", "hparams_set": "transformer_tiny"}


def test_hparams_added_since_a_run_started_resume_at_their_defaults(tmp_path):
  old = registry.hparams("transformer_tiny")
  old.del_hparam("packed_length")  # as a run.json written before packing existed
  run_dir.prepare(str(tmp_path), RUN, old)
  run_dir.prepare(str(tmp_path), RUN, registry.hparams("transformer_tiny"))  # default: fine
  changed = registry.hparams("transformer_tiny").parse("packed_length=64")
  with pytest.raises(UserError, match=r"other hparams \(packed_length: None -> 64\)"):
    run_dir.prepare(str(tmp_path), RUN, changed)
