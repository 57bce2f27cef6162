"""t2t-serve's Prometheus metrics (GET /metrics), in a registry of their own."""
import prometheus_client as prom

_LATENCY_BUCKETS = (.005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5, 10, 30, 60)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServerMetrics:

  def __init__(self):
    self.registry = prom.CollectorRegistry()
    r = self.registry
    self.requests = prom.Counter("t2t_serve_requests", "HTTP requests answered, by "
                                 "endpoint and status code", ["endpoint", "code"], registry=r)
    self.errors = prom.Counter("t2t_serve_errors", "Requests answered with an error, by "
                               "reason", ["reason"], registry=r)
    self.latency = prom.Histogram("t2t_serve_request_latency_seconds", "Time from a "
                                  "request's arrival to its answer", ["endpoint"],
                                  buckets=_LATENCY_BUCKETS, registry=r)
    self.queue_time = prom.Histogram("t2t_serve_queue_seconds", "Time an item waited "
                                     "before its batch started decoding",
                                     buckets=_LATENCY_BUCKETS, registry=r)
    self.decode_time = prom.Histogram("t2t_serve_batch_decode_seconds", "Time one batch "
                                      "took to decode", buckets=_LATENCY_BUCKETS, registry=r)
    self.batch_size = prom.Histogram("t2t_serve_batch_size", "Items decoded together",
                                     buckets=_BATCH_BUCKETS, registry=r)
    self.input_tokens = prom.Counter("t2t_serve_input_tokens", "Input length decoded "
                                     "(tokens; speech: 10 ms frames)", registry=r)
    self.output_tokens = prom.Counter("t2t_serve_output_tokens", "Output tokens produced",
                                      registry=r)
    self.tokens_per_second = prom.Gauge("t2t_serve_output_tokens_per_second", "Output "
                                        "tokens per second of the last batch's decode",
                                        registry=r)
    self.queue_depth = prom.Gauge("t2t_serve_queue_depth", "Items waiting to be decoded",
                                  registry=r)
    self.in_flight = prom.Gauge("t2t_serve_requests_in_flight", "Translate and transcribe "
                                "requests accepted and not yet answered", registry=r)
    self.ready = prom.Gauge("t2t_serve_ready", "1 once the model is loaded and warmed up, "
                            "0 before and while draining", registry=r)

  def observe_batch(self, items, started, seconds, results):
    self.batch_size.observe(len(items))
    self.decode_time.observe(seconds)
    for item in items:
      self.queue_time.observe(max(0.0, started - item.arrived))
    self.input_tokens.inc(sum(item.length for item in items))
    produced = sum(r.output_tokens for r in results if not isinstance(r, Exception))
    self.output_tokens.inc(produced)
    if seconds > 0:
      self.tokens_per_second.set(produced / seconds)

  def exposition(self):
    return prom.generate_latest(self.registry), prom.CONTENT_TYPE_LATEST
