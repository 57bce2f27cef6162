"""TF_CONFIG validation, task roles and the local cluster's ports (no cluster started)."""
import json

import pytest

from t2t_lite.errors import UserError
from t2t_lite.training import cluster, local_cluster, strategies

PS_CLUSTER = {"chief": ["h0:1"], "worker": ["h1:1", "h2:1"], "ps": ["h3:1"]}


def _set(monkeypatch, cluster_spec, task_type, index=0):
  monkeypatch.setenv("TF_CONFIG", json.dumps(
      {"cluster": cluster_spec, "task": {"type": task_type, "index": index}}))


def test_roles_follow_tf_config(monkeypatch):
  _set(monkeypatch, PS_CLUSTER, "ps")
  assert cluster.is_server_task("parameter_server") and not cluster.is_chief()
  _set(monkeypatch, PS_CLUSTER, "chief")
  assert not cluster.is_server_task("parameter_server") and cluster.is_chief()
  _set(monkeypatch, {"worker": ["a:1", "b:1"]}, "worker", 1)
  assert cluster.check_cluster("multi_worker_mirrored") == ("worker", 1)
  assert not cluster.is_chief()
  _set(monkeypatch, {"worker": ["a:1", "b:1"]}, "worker", 0)
  assert cluster.is_chief()
  monkeypatch.delenv("TF_CONFIG")
  assert cluster.is_chief() and not cluster.is_server_task("mirrored")


@pytest.mark.parametrize("config,message", [
    (None, "needs TF_CONFIG"),
    ("{not json", "not valid JSON"),
    (json.dumps({"cluster": {"worker": ["a:1"]}}), 'needs "cluster" and "task"'),
    (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}),
     "has no chief, ps job"),
    (json.dumps({"cluster": PS_CLUSTER, "task": {"type": "worker", "index": 5}}),
     "is not one of the cluster's chief:0..0, worker:0..1, ps:0..0"),
])
def test_bad_tf_config_is_one_clear_error(monkeypatch, config, message):
  if config is None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
  else:
    monkeypatch.setenv("TF_CONFIG", config)
  with pytest.raises(UserError, match=message):
    strategies.make_strategy("parameter_server")


def test_tpu_needs_a_name():
  with pytest.raises(UserError, match="--strategy=tpu needs --tpu=NAME"):
    strategies.make_strategy("tpu", tpu=None)


def test_local_cluster_spec_has_distinct_free_ports():
  spec = local_cluster.cluster_spec("parameter_server", num_workers=2, num_ps=3)
  assert {job: len(tasks) for job, tasks in spec.items()} == {"chief": 1, "worker": 2, "ps": 3}
  addresses = [a for tasks in spec.values() for a in tasks]
  assert len(set(addresses)) == 6 and all(a.startswith("localhost:") for a in addresses)
  assert list(local_cluster.cluster_spec("multi_worker_mirrored", 3, 1)) == ["worker"]
