"""t2t-local-cluster's restart policies, with real processes that play trainers and
servers (a few lines of Python each: no TensorFlow, so each test takes seconds)."""
import io
import json
import os
import sys
import textwrap

import pytest

from t2t_lite.training import local_cluster
from t2t_lite.training.cluster import ClusterShape

# Each start of a task takes the next action of its plan (its last one repeats): exit
# with a status, die of SIGKILL, or serve until killed ("late-": a second later).
TASK = textwrap.dedent('''
    import json, os, signal, sys, time
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    name = f"{task['type']}:{task['index']}"
    plan = json.loads(os.environ["PLAN"]).get(name, ["0"])
    count_file = os.path.join(os.environ["STATE"], name)
    runs = int(open(count_file).read()) if os.path.exists(count_file) else 0
    open(count_file, "w").write(str(runs + 1))
    action = plan[min(runs, len(plan) - 1)]
    print(f"{name} run {runs + 1}: {action}", flush=True)
    if action.startswith("late-"):  # after the others had a second to finish
      time.sleep(1.0)
      action = action[len("late-"):]
    if action == "kill":
      os.kill(os.getpid(), signal.SIGKILL)
    if action == "serve":
      while True:
        time.sleep(1)
    sys.exit(int(action))
''')


def _run(tmp_path, strategy, plan, **kwargs):
  out = io.StringIO()
  tmp_path.mkdir(parents=True, exist_ok=True)
  env = dict(os.environ, PLAN=json.dumps(plan), STATE=str(tmp_path))
  shape = ClusterShape(num_workers=2, num_ps=1, **kwargs)
  cluster = local_cluster.LocalCluster(strategy, shape, [sys.executable, "-c", TASK], env,
                                       out=out)
  code = cluster.run()
  return code, out.getvalue(), cluster


@pytest.fixture(autouse=True)
def quick_restarts(monkeypatch):
  monkeypatch.setattr(local_cluster, "RESTART_DELAY_SECS", 0.1)


def test_a_killed_worker_and_the_peers_it_took_down_come_back(tmp_path):
  plan = {"worker:1": ["kill", "0"], "worker:0": ["143", "0"], "chief:0": ["143", "0"]}
  code, out, cluster = _run(tmp_path, "multi_worker_mirrored", plan, chief=True,
                            restart_policy="exit_code", backoff_limit=5)
  assert code == 0, out
  assert "worker:1 exited (signal 9); restarting it (restart" in out
  assert "chief:0 exited (status 143); restarting it" in out
  assert cluster.restarts == 3 and list(cluster.spec) == ["chief", "worker"]


def test_exit_code_does_not_retry_a_mistake_and_on_failure_stops_at_the_limit(tmp_path):
  code, out, _ = _run(tmp_path / "a", "multi_worker_mirrored", {"worker:1": ["2"]},
                      restart_policy="exit_code", backoff_limit=5)
  assert code == 2 and "restarting" not in out
  assert "worker:1 failed (status 2); stopping the others" in out
  code, out, cluster = _run(tmp_path / "b", "multi_worker_mirrored",
                            {"worker:0": ["serve"], "worker:1": ["2"]},
                            restart_policy="on_failure", backoff_limit=2)
  assert code == 2 and cluster.restarts == 2
  assert "after 2 restarts: --backoff_limit=2 reached" in out


def test_never_stops_the_cluster_at_the_first_failure(tmp_path):
  code, out, cluster = _run(tmp_path, "multi_worker_mirrored", {"worker:0": ["143"]})
  assert code == 143 and cluster.restarts == 0
  assert "worker:0 stopped (status 143); stopping the others" in out


def test_a_parameter_server_restart_brings_back_the_chief_it_took_down(tmp_path):
  plan = {"ps:0": ["kill", "serve"], "worker:0": ["serve"], "worker:1": ["serve"],
          "chief:0": ["143", "0"]}
  code, out, cluster = _run(tmp_path, "parameter_server", plan,
                            restart_policy="exit_code", backoff_limit=5)
  assert code == 0, out
  assert "ps:0 exited (signal 9); restarting it" in out
  assert "chief:0 exited (status 143); restarting it" in out
  assert all(p.poll() is not None for p in cluster.procs.values())  # servers killed at the end


def test_a_finished_peer_is_not_waited_for(tmp_path):
  # worker:0 finished its run; a restarted worker:1 could only wait for it forever.
  plan = {"worker:0": ["0"], "worker:1": ["late-kill", "0"]}
  code, out, cluster = _run(tmp_path, "multi_worker_mirrored", plan,
                            restart_policy="exit_code", backoff_limit=5)
  assert code == 137 and cluster.restarts == 0, out
  assert "worker:1 failed (signal 9); stopping the others" in out


@pytest.mark.parametrize("code,policy,expected", [
    (-9, "exit_code", True), (143, "exit_code", True), (2, "exit_code", False),
    (1, "on_failure", True), (0, "on_failure", False), (-15, "never", False)])
def test_restartable(code, policy, expected):
  assert local_cluster.restartable(policy, code) is expected
  assert local_cluster.exit_status(-9) == 137
