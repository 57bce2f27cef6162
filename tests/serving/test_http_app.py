"""t2t-serve's HTTP API, called as an ASGI application in this process (no server, no
sockets) with a stand-in engine: answers, n-best lists, and each error's status and line."""
import asyncio
import base64
import json

from t2t_lite.serving import http_app
from t2t_lite.serving.batcher import Batcher
from t2t_lite.serving.server_metrics import ServerMetrics
from t2t_lite.serving.server_options import ServeOptions
from tests.serving.fake_engine import UpperEngine


async def _call(app, method, path, body=b"", content_type="application/json"):
  """(status, headers, body) of one request to the ASGI app."""
  scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
           "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
           "root_path": "", "scheme": "http", "server": ("test", 80), "client": ("c", 1),
           "headers": [(b"content-type", content_type.encode()),
                       (b"content-length", str(len(body)).encode())]}
  sent, messages = False, []

  async def receive():
    nonlocal sent
    if sent:
      await asyncio.sleep(3600)
    sent = True
    return {"type": "http.request", "body": body, "more_body": False}

  async def send(message):
    messages.append(message)
  await app(scope, receive, send)
  start = messages[0]
  return (start["status"], dict((k.decode(), v.decode()) for k, v in start["headers"]),
          b"".join(m.get("body", b"") for m in messages[1:]))


def _serve(scenario, engine=None, ready=True, **settings):
  """Runs scenario(state, call) against an app whose batcher decodes with `engine`."""
  state = http_app.ServerState(ServeOptions(export_dir="e", **settings), ServerMetrics())
  app = http_app.application(state, lifespan=None)

  async def run():
    state.engine = engine or UpperEngine()
    state.batcher = Batcher(lambda p, n: state.engine.decode(p, n),
                            state.settings.max_batch_size, max_queue=state.settings.max_queue,
                            on_batch=state.metrics.observe_batch)
    state.batcher.start()
    state.set_ready(ready)

    async def call(method, path, value=None, raw=None, content_type="application/json"):
      body = raw if raw is not None else json.dumps(value).encode() if value is not None \
          else b""
      status, headers, answer = await _call(app, method, path, body, content_type)
      if headers.get("content-type", "").startswith("application/json"):
        answer = json.loads(answer)
      return status, headers, answer
    try:
      return await scenario(state, call)
    finally:
      await state.batcher.drain()
  return asyncio.run(asyncio.wait_for(run(), 30))


def test_translate_answers_outputs_scores_and_n_best():
  async def scenario(state, call):
    status, _, answer = await call("POST", "/v1/translate", {"text": ["a b", "c"]})
    assert (status, answer) == (200, {"outputs": ["A B", "C"], "scores": [-1.0, -1.0]})
    status, _, answer = await call("POST", "/v1/translate", {"text": "x y", "n_best": 2})
    assert answer["n_best"] == [[{"text": "X Y", "score": -1.0},
                                 {"text": "x y", "score": -2.0}]]
    assert state.accepted == state.answered == 2
    status, _, text = await call("GET", "/metrics")
    assert b't2t_serve_requests_total{code="200",endpoint="translate"} 2.0' in text
    assert b"t2t_serve_input_tokens_total 5.0" in text
  _serve(scenario)


def test_translate_errors_are_one_line_with_their_status():
  async def scenario(state, call):
    cases = [({"txt": "a"}, 400, 'needs a "text" field'),
             ({"text": []}, 400, '"text" must be a string or a non-empty list'),
             ({"text": "a", "n_best": 0}, 400, '"n_best" must be a positive integer'),
             ({"text": "a", "n_best": 3}, 400, "at most 2 hypothesis(es)"),
             ({"text": "bad"}, 400, "input 0: cannot take 'bad'"),
             ({"text": "a b c d e f"}, 413, "input 0: 6 words"),
             ({"text": "a b c d"}, 413, "input 0 has 4 tokens; at most 3"),
             ({"text": ["a"] * 5}, 413, "5 inputs in one request; at most 4"),
             ({"text": "x" * 41}, 413, "41 characters in one request; at most 40")]
    for value, status, message in cases:
      got, _, answer = await call("POST", "/v1/translate", value)
      assert (got, set(answer)) == (status, {"error"}) and message in answer["error"], value
    got, _, answer = await call("POST", "/v1/translate", raw=b"{not json")
    assert got == 400 and answer["error"].startswith("the request body is not valid JSON")
    got, _, answer = await call("POST", "/v1/translate", raw=b"[1]")
    assert (got, answer["error"]) == (400, "the request body must be a JSON object")
    got, _, answer = await call("POST", "/v1/transcribe", raw=b"RIFF",
                                content_type="audio/wav")
    assert got == 404 and "serves a text model; use /v1/translate" in answer["error"]
    assert state.accepted == state.answered == len(cases) + 3
  _serve(scenario, max_input_tokens=3, max_request_sentences=4, max_request_chars=40,
         max_queue=4)


def test_health_readiness_and_body_limit():
  async def scenario(state, call):
    assert (await call("GET", "/healthz"))[2] == {"status": "alive"}
    status, _, answer = await call("GET", "/readyz")
    assert (status, answer) == (503, {"status": "loading"})
    status, headers, answer = await call("POST", "/v1/translate", {"text": "a"})
    assert (status, headers["retry-after"]) == (503, "1")
    state.set_ready(True)
    assert (await call("GET", "/readyz"))[2] == {"status": "ready", "kind": "text"}
    status, _, answer = await call("POST", "/v1/translate", {"text": "a" * 100})
    assert status == 413 and "at most 64 are accepted (--max_body_bytes)" in answer["error"]
    state.draining = True
    assert (await call("GET", "/readyz"))[:3:2] == (503, {"status": "draining"})
  _serve(scenario, ready=False, max_body_bytes=64)


class _Speech(UpperEngine):
  kind = "speech"

  def prepare(self, item):
    return [0] * len(item), len(item)

  def decode(self, payloads, n_best=1):
    return super().decode([f"{len(p)} samples" for p in payloads], n_best)


def test_transcribe_takes_wav_bytes_or_base64_json():
  async def scenario(state, call):
    status, _, answer = await call("POST", "/v1/transcribe", raw=b"1234",
                                   content_type="audio/wav")
    assert (status, answer) == (200, {"outputs": ["4 SAMPLES"]})
    audio = [base64.b64encode(b"12").decode(), base64.b64encode(b"123").decode()]
    assert (await call("POST", "/v1/transcribe", {"audio": audio}))[2] == {
        "outputs": ["2 SAMPLES", "3 SAMPLES"]}
    status, _, answer = await call("POST", "/v1/transcribe", {"audio": "%%%"})
    assert (status, answer["error"]) == (400, '"audio" is not valid base64')
    status, _, answer = await call("POST", "/v1/transcribe", raw=b"x" * 40,
                                   content_type="audio/wav")
    assert status == 413 and "s of audio in one request; at most" in answer["error"]
  _serve(scenario, engine=_Speech(), max_audio_seconds=0.002)
