"""The TF_CONFIG of every TFJob role, byte for byte as Kubeflow's operator writes it."""
import json

from t2t_lite.launch import tf_config

# The expectations of the operator's own test (pkg/controller.v1/tensorflow/pod_test.go,
# "Test ClusterSpec", training-operator v1.9.0): TestTFJobName is "test-tfjob".
OPERATOR_EXPECTED = [
    # (replicas, namespace, custom cluster domain, the Worker 0's TF_CONFIG)
    ({"Worker": 1}, "ns0", "", None),
    ({"Worker": 1}, "ns1", "tf.training.com", None),
    ({"Worker": 1, "PS": 1}, "ns2", "tf.training.org",
     '{"cluster":{"ps":["test-tfjob-ps-0.ns2.svc.tf.training.org:2222"],"worker":["test-tfjob'
     '-worker-0.ns2.svc.tf.training.org:2222"]},"task":{"type":"worker","index":0},'
     '"environment":"cloud"}'),
    ({"Worker": 1, "PS": 1, "Evaluator": 1}, "ns3", "tf.training.io",
     '{"cluster":{"evaluator":["test-tfjob-evaluator-0.ns3.svc.tf.training.io:2222"],"ps":["'
     'test-tfjob-ps-0.ns3.svc.tf.training.io:2222"],"worker":["test-tfjob-worker-0.ns3.svc.'
     'tf.training.io:2222"]},"task":{"type":"worker","index":0},"environment":"cloud"}'),
    ({"Worker": 1, "PS": 1, "Evaluator": 1}, "ns3", "",
     '{"cluster":{"evaluator":["test-tfjob-evaluator-0.ns3.svc:2222"],"ps":["test-tfjob-ps-0.'
     'ns3.svc:2222"],"worker":["test-tfjob-worker-0.ns3.svc:2222"]},"task":{"type":"worker",'
     '"index":0},"environment":"cloud"}'),
]


def test_the_operators_own_expectations_byte_for_byte():
  for replicas, namespace, domain, expected in OPERATOR_EXPECTED:
    assert tf_config.tf_config("test-tfjob", namespace, replicas, "Worker", 0,
                               cluster_domain=domain) == expected


def test_every_role_of_a_chief_worker_ps_job():
  replicas = {"Chief": 1, "Worker": 2, "PS": 2}
  ports = {"Chief": 2222, "Worker": 2223, "PS": 2224}
  configs = {(t, i): tf_config.tf_config("rev", "team", replicas, t, i, ports)
             for t, n in replicas.items() for i in range(n)}
  cluster = ('{"chief":["rev-chief-0.team.svc:2222"],"ps":["rev-ps-0.team.svc:2224",'
             '"rev-ps-1.team.svc:2224"],"worker":["rev-worker-0.team.svc:2223",'
             '"rev-worker-1.team.svc:2223"]}')
  for (rtype, index), text in configs.items():
    assert text == (f'{{"cluster":{cluster},"task":{{"type":"{rtype.lower()}","index":'
                    f'{index}}},"environment":"cloud"}}')
    assert "master" not in json.loads(text)["cluster"]  # what Tensor2Tensor expected


def test_a_chief_alone_with_no_worker_is_distributed_only_with_a_second_replica():
  assert tf_config.tf_config("j", "ns", {"Chief": 1}, "Chief", 0) is None
  assert tf_config.tf_config("j", "ns", {"Worker": 2}, "Worker", 1) == (
      '{"cluster":{"worker":["j-worker-0.ns.svc:2222","j-worker-1.ns.svc:2222"]},'
      '"task":{"type":"worker","index":1},"environment":"cloud"}')


def test_local_addresses_change_nothing_but_the_addresses():
  replicas = {"Chief": 1, "Worker": 1, "Evaluator": 1}
  local = {"Chief": "localhost:1001", "Worker": "localhost:1002", "Evaluator": "localhost:1003"}
  for rtype in replicas:
    operator = tf_config.tf_config("j", "ns", replicas, rtype, 0)
    here = tf_config.tf_config("j", "ns", replicas, rtype, 0,
                               address=lambda t, i: local[t])
    for t in replicas:
      operator = operator.replace(tf_config.service_address("j", "ns", t, 0), local[t])
    assert here == operator
