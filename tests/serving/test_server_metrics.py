"""t2t-serve's Prometheus metrics: a batch's observations, in a registry of their own."""
import types

from t2t_lite.serving.engine import Hypothesis, Result
from t2t_lite.serving.server_metrics import ServerMetrics


def _value(metrics, name, labels=None):
  return metrics.registry.get_sample_value(name, labels or {})


def test_a_batch_is_observed_and_exposed():
  metrics, other = ServerMetrics(), ServerMetrics()  # each its own registry
  items = [types.SimpleNamespace(arrived=9.0, length=3),
           types.SimpleNamespace(arrived=11.0, length=5)]  # arrived after "started": 0 s
  results = [Result(Hypothesis("a b"), output_tokens=2), ValueError("bad item")]
  metrics.observe_batch(items, started=10.0, seconds=0.5, results=results)
  assert _value(metrics, "t2t_serve_batch_size_count") == 1
  assert _value(metrics, "t2t_serve_batch_size_sum") == 2
  assert _value(metrics, "t2t_serve_queue_seconds_sum") == 1.0
  assert _value(metrics, "t2t_serve_input_tokens_total") == 8
  assert _value(metrics, "t2t_serve_output_tokens_total") == 2
  assert _value(metrics, "t2t_serve_output_tokens_per_second") == 4.0
  assert _value(other, "t2t_serve_input_tokens_total") == 0
  metrics.requests.labels("translate", "200").inc()
  text, content_type = metrics.exposition()
  assert content_type.startswith("text/plain")
  assert b't2t_serve_requests_total{code="200",endpoint="translate"} 1.0' in text
