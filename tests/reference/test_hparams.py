"""The hparams groups as the reference lists them: readers, rows, the sets that change
them."""
from t2t_lite import engine_hparams, options, registry
from t2t_lite.reference import hparams


def test_groups_readers_and_changes():
  found = {g.gin_name: g for g in hparams.groups(["algorithmic_reverse_decimal40"],
                                                 ["transformer"], ["transformer_tiny"])}
  engine = [g.gin_name for g in engine_hparams.GROUPS]
  assert list(found)[:len(engine)] == engine
  assert set(found) == set(options.HPARAMS_GROUPS)
  assert found["batching"].readers[0] == "the engine"
  assert "model transformer" in found["transformer"].readers
  tiny = registry.hparams("transformer_tiny").values()
  for row in found["transformer"].rows:
    changed = found["transformer"].changed_by[row.name]
    assert changed == ([("transformer_tiny", tiny[row.name])]
                       if row.name in tiny and tiny[row.name] != row.default else [])
  only = hparams.groups([], [], [], only={"transformer"})
  assert [g.gin_name for g in only] == ["transformer"] and not only[0].readers
  assert hparams.set_values(["transformer_tiny"]) == {"transformer_tiny": tiny}
