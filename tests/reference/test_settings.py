"""--decode_hparams and --problem_settings as the reference lists them."""
from t2t_lite import registry
from t2t_lite.decoding.decoder import DecodeHParams
from t2t_lite.reference import settings


def test_decode_hparams_by_the_problems_that_use_them():
  problems = registry.problems.names()
  entries = {s.title: s for s in settings.decode_hparams(problems)}
  text = entries["DecodeHParams"]
  assert "algorithmic_reverse_decimal40" in text.used_by
  beam = next(r for r in text.rows if r.name == "beam_size")
  assert (beam.default, beam.gin) == (DecodeHParams().beam_size, "DecodeHParams.beam_size")
  assert sum(len(s.used_by) for s in entries.values()) == len(problems)


def test_problem_settings_with_the_problems_defaults():
  problems = registry.problems.names()
  entries = {s.title: s for s in settings.problem_settings(problems)}
  assert "algorithmic_reverse_decimal40" not in entries  # declares none
  for name, entry in entries.items():
    defaults = registry.problem(name).default_settings().values()
    assert {r.name: r.default for r in entry.rows} == defaults
    assert all(r.gin.endswith(f".{r.name}") for r in entry.rows)
