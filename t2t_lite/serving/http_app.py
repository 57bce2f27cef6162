"""t2t-serve's HTTP API, a Starlette application:

  POST /v1/translate   {"text": "a sentence" | ["one", "two"], "n_best": 2}
                       -> {"outputs": [...], "scores": [...], "n_best": [[{"text", "score"}]]}
  POST /v1/transcribe  a WAV file's bytes (Content-Type: audio/wav), or
                       {"audio": BASE64 | [BASE64, ...]} -> {"outputs": [...]}
  GET  /healthz        200 while the process serves (liveness)
  GET  /readyz         200 once the model is loaded and a warm-up request has run, 503
                       before that and while draining (readiness)
  GET  /metrics        Prometheus metrics

Errors are {"error": "one line"} with 400 (bad JSON or audio), 404 (the other kind of
model), 413 (over a size limit), 429 + Retry-After (queue full), 503 (not ready yet) or
504 (not answered within --request_timeout_s)."""
import asyncio
import base64
import binascii
import json
import time

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t2t_lite.serving.batcher import QueueFull
from t2t_lite.serving.engine import BadInput, TooLarge


class HttpError(Exception):

  def __init__(self, status, reason, message, headers=None):
    super().__init__(message)
    self.status, self.reason, self.headers = status, reason, headers or {}


class ServerState:
  """What the endpoints share: the options, the engine once loaded, the batcher, the
  metrics, and whether the server is ready or draining."""

  def __init__(self, settings, metrics):
    self.settings, self.metrics = settings, metrics
    self.engine = None
    self.batcher = None
    self.ready = False
    self.draining = False
    # Decode requests whose handler started, and those answered (any status): equal after
    # a drain, which the drain's log line reports.
    self.accepted = 0
    self.answered = 0

  def set_ready(self, ready):
    self.ready = ready
    self.metrics.ready.set(1 if ready and not self.draining else 0)


def _error(e: HttpError):
  return JSONResponse({"error": str(e)}, status_code=e.status, headers=e.headers)


async def _body(request, limit):
  declared = request.headers.get("content-length")
  if declared and declared.isdigit() and int(declared) > limit:
    raise HttpError(413, "too_large", f"the request body has {declared} bytes; at most "
                    f"{limit} are accepted (--max_body_bytes)")
  chunks, size = [], 0
  async for chunk in request.stream():
    size += len(chunk)
    if size > limit:
      raise HttpError(413, "too_large", f"the request body exceeds {limit} bytes "
                      "(--max_body_bytes)")
    chunks.append(chunk)
  return b"".join(chunks)


def _json(body):
  try:
    value = json.loads(body)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise HttpError(400, "bad_json", f"the request body is not valid JSON ({e})") from None
  if not isinstance(value, dict):
    raise HttpError(400, "bad_json", "the request body must be a JSON object")
  return value


def _list_of(value, field, type_, what):
  items = [value] if isinstance(value, type_) else value
  if not isinstance(items, list) or not items or \
      not all(isinstance(x, type_) for x in items):
    raise HttpError(400, "bad_request", f"\"{field}\" must be {what} or a non-empty list of "
                    "them")
  return items


class Endpoints:

  def __init__(self, state: ServerState):
    self.state = state

  def _ready_engine(self, kind):
    state = self.state
    if not state.ready:
      raise HttpError(503, "not_ready", "the model is still loading; retry shortly",
                      {"Retry-After": "1"})
    if state.engine.kind != kind:
      other = "/v1/transcribe" if kind == "text" else "/v1/translate"
      raise HttpError(404, "wrong_endpoint", f"this server serves a {state.engine.kind} "
                      f"model; use {other}")
    return state.engine

  def _prepare(self, engine, items):
    settings = self.state.settings
    if len(items) > settings.max_request_sentences:
      raise HttpError(413, "too_large", f"{len(items)} inputs in one request; at most "
                      f"{settings.max_request_sentences} (--max_request_sentences)")
    prepared = []
    for i, item in enumerate(items):
      try:
        payload, length = engine.prepare(item)
      except BadInput as e:
        raise HttpError(400, "bad_input", f"input {i}: {e}") from None
      except TooLarge as e:
        raise HttpError(413, "too_large", f"input {i}: {e}") from None
      prepared.append((payload, length))
    return prepared

  async def _decode(self, prepared, n_best, arrived):
    state = self.state
    try:
      futures = state.batcher.submit(prepared, n_best)
    except QueueFull as e:
      raise HttpError(429, "queue_full", f"{e} (--max_queue={state.settings.max_queue})",
                      {"Retry-After": str(e.retry_after_s)}) from None
    state.metrics.queue_depth.set(state.batcher.depth)
    remaining = state.settings.request_timeout_s - (time.perf_counter() - arrived)
    try:
      return await asyncio.wait_for(asyncio.gather(*futures), max(remaining, 0.001))
    except TimeoutError:
      raise HttpError(504, "timeout", "not answered within "
                      f"{state.settings.request_timeout_s} s (--request_timeout_s)") from None
    except Exception as e:  # pylint: disable=broad-except
      first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      raise HttpError(500, "decode_failed", f"decoding failed: {first[:300]}") from None

  async def translate(self, request):
    arrived = time.perf_counter()
    settings = self.state.settings
    engine = self._ready_engine("text")
    body = _json(await _body(request, settings.max_body_bytes))
    if "text" not in body:
      raise HttpError(400, "bad_request", "the JSON object needs a \"text\" field: a string "
                      "or a list of strings")
    texts = _list_of(body["text"], "text", str, "a string")
    n_best = body.get("n_best", 1)
    if not isinstance(n_best, int) or isinstance(n_best, bool) or n_best < 1:
      raise HttpError(400, "bad_request", "\"n_best\" must be a positive integer")
    if n_best > engine.max_n_best:
      raise HttpError(400, "bad_request", f"n_best={n_best}: this server returns at most "
                      f"{engine.max_n_best} hypothesis(es) per input (CTranslate2: up to its "
                      "--beam_size; a SavedModel: one)")
    chars = sum(len(t) for t in texts)
    if chars > settings.max_request_chars:
      raise HttpError(413, "too_large", f"{chars} characters in one request; at most "
                      f"{settings.max_request_chars} (--max_request_chars)")
    prepared = self._prepare(engine, texts)
    for i, (_, length) in enumerate(prepared):
      if length > settings.max_input_tokens:
        raise HttpError(413, "too_large", f"input {i} has {length} {engine.length_unit}; at "
                        f"most {settings.max_input_tokens} (--max_input_tokens)")
    results = await self._decode(prepared, n_best, arrived)
    answer = {"outputs": [r.best.text for r in results]}
    if engine.has_scores:
      answer["scores"] = [r.best.score for r in results]
    if n_best > 1:
      answer["n_best"] = [[{"text": h.text, "score": h.score} for h in r.n_best[:n_best]]
                          for r in results]
    return JSONResponse(answer)

  async def transcribe(self, request):
    arrived = time.perf_counter()
    settings = self.state.settings
    engine = self._ready_engine("speech")
    body = await _body(request, settings.max_body_bytes)
    if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
      value = _json(body)
      if "audio" not in value:
        raise HttpError(400, "bad_request", "the JSON object needs an \"audio\" field: "
                        "base64 WAV bytes, or a list of them")
      try:
        wavs = [base64.b64decode(a, validate=True) for a in
                _list_of(value["audio"], "audio", str, "a base64 string")]
      except (binascii.Error, ValueError):
        raise HttpError(400, "bad_audio", "\"audio\" is not valid base64") from None
    else:
      wavs = [body]
    prepared = self._prepare(engine, wavs)
    seconds = sum(len(samples) for samples, _ in prepared) / 16000
    if seconds > settings.max_audio_seconds:
      raise HttpError(413, "too_large", f"{seconds:.1f} s of audio in one request; at most "
                      f"{settings.max_audio_seconds} s (--max_audio_seconds)")
    results = await self._decode(prepared, 1, arrived)
    return JSONResponse({"outputs": [r.best.text for r in results]})

  async def healthz(self, request):
    return JSONResponse({"status": "alive"})

  async def readyz(self, request):
    state = self.state
    if state.draining:
      return JSONResponse({"status": "draining"}, status_code=503)
    if not state.ready:
      return JSONResponse({"status": "loading"}, status_code=503)
    return JSONResponse({"status": "ready", "kind": state.engine.kind})

  async def metrics(self, request):
    state = self.state
    if state.batcher is not None:
      state.metrics.queue_depth.set(state.batcher.depth)
    data, content_type = state.metrics.exposition()
    return Response(data, media_type=content_type)


def _counted(state, name, handler):
  """The handler, with its answer counted and timed, and HttpError made a response."""
  async def endpoint(request):
    started = time.perf_counter()
    state.accepted += 1
    state.metrics.in_flight.inc()
    try:
      response = await handler(request)
    except HttpError as e:
      state.metrics.errors.labels(e.reason).inc()
      response = _error(e)
    except ClientDisconnect:
      state.metrics.errors.labels("client_disconnected").inc()
      response = Response(status_code=499)
    state.answered += 1
    state.metrics.in_flight.dec()
    state.metrics.requests.labels(name, str(response.status_code)).inc()
    state.metrics.latency.labels(name).observe(time.perf_counter() - started)
    return response
  return endpoint


def application(state: ServerState, lifespan):
  endpoints = Endpoints(state)
  routes = [Route("/v1/translate", _counted(state, "translate", endpoints.translate),
                  methods=["POST"]),
            Route("/v1/transcribe", _counted(state, "transcribe", endpoints.transcribe),
                  methods=["POST"]),
            Route("/healthz", endpoints.healthz, methods=["GET"]),
            Route("/readyz", endpoints.readyz, methods=["GET"]),
            Route("/metrics", endpoints.metrics, methods=["GET"])]
  return Starlette(routes=routes, lifespan=lifespan)
