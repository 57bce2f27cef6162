"""t2t-serve as users run it: real server processes on free loopback ports, for the shared
translation run (SavedModel and CTranslate2 exports) and the shared speech run
(SavedModel), answering concurrent requests exactly as t2t-decoder decodes the same
inputs (float32, greedy); ready only after the warm-up; metrics; 400/404/413/429 answers;
and a SIGTERM with requests in flight: all answered, exit status 0."""
import base64
import concurrent.futures
import http.client
import json
import re
import signal
import subprocess
import threading
import time

import pytest

from t2t_lite.data import audio
from t2t_lite.training.local_cluster import free_ports
from tests.bin.helpers import ENV, binary

pytestmark = pytest.mark.slow

SENTENCES = 40


class Server:
  """A t2t-serve process; its output lines are collected by a thread."""

  def __init__(self, *flags):
    (self.port,) = free_ports(1)
    self.proc = subprocess.Popen(binary("t2t-serve") + [f"--port={self.port}", *flags],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, env=ENV)
    self.lines = []
    self._terminated = False
    self._reader = threading.Thread(target=self._read, daemon=True)
    self._reader.start()

  def _read(self):
    for line in self.proc.stdout:
      self.lines.append(line.rstrip("\n"))

  def wait_for(self, text, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
      if any(text in line for line in self.lines):
        return
      if self.proc.poll() is not None:
        self._reader.join(5)
        if any(text in line for line in self.lines):
          return
        raise AssertionError(f"t2t-serve exited {self.proc.returncode}:\n" +
                             "\n".join(self.lines[-30:]))
      time.sleep(0.05)
    raise AssertionError(f"no {text!r} from t2t-serve in {timeout} s:\n" +
                         "\n".join(self.lines[-30:]))

  def request(self, method, path, body=None, headers=None):
    """(status, headers, body: parsed JSON, or text for /metrics)."""
    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
    try:
      if isinstance(body, (dict, list)):
        body = json.dumps(body)
        headers = {"Content-Type": "application/json", **(headers or {})}
      conn.request(method, path, body=body, headers=headers or {})
      response = conn.getresponse()
      data = response.read().decode()
      parsed = json.loads(data) if response.getheader("content-type", "").startswith(
          "application/json") else data
      return response.status, dict(response.getheaders()), parsed
    finally:
      conn.close()

  def translate(self, text, **extra):
    return self.request("POST", "/v1/translate", {"text": text, **extra})

  def metric(self, name):
    """The value of a metric line `name` (with its labels) in /metrics."""
    _, _, text = self.request("GET", "/metrics")
    for line in text.splitlines():
      if line.startswith(name + " "):
        return float(line.split()[-1])
    return 0.0

  def terminate(self):
    """SIGTERM, once: after its drain the server restores the default handler, so a
    second SIGTERM while it shuts down would kill it (status -15)."""
    if not self._terminated and self.proc.poll() is None:
      self.proc.send_signal(signal.SIGTERM)
    self._terminated = True

  def stop(self):
    """SIGTERM unless sent already; the exit status."""
    self.terminate()
    code = self.proc.wait(timeout=120)
    self._reader.join(10)
    return code


@pytest.fixture(scope="module")
def text(translation_outputs):
  """The shared translation run's SavedModel (greedy) and CTranslate2 float32 exports, and
  t2t-decoder's greedy outputs for SENTENCES held-out sources (tests/bin/conftest.py)."""
  return {"sources": translation_outputs["sources"][:SENTENCES],
          "decoded": translation_outputs["decoded"]["greedy"][:SENTENCES],
          "exports": {k: translation_outputs[k] for k in ("saved_model", "ctranslate2")}}


def _concurrently(function, args, workers=8):
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    return list(pool.map(function, args))


def test_saved_model_server_answers_like_the_decoder_ready_after_warm_up_and_drains(text):
  server = Server(f"--export_dir={text['exports']['saved_model']}", "--max_batch_size=8",
                  "--max_batch_delay_ms=20")
  try:
    server.wait_for("t2t-serve: listening")
    # Loading and warming up a TensorFlow model takes seconds: not ready yet.
    status, _, body = server.request("GET", "/readyz")
    assert (status, body) == (503, {"status": "loading"})
    assert server.request("GET", "/healthz")[0] == 200
    status, headers, body = server.translate("a house")
    assert status == 503 and headers["retry-after"] == "1", body
    server.wait_for("t2t-serve: ready")
    assert server.request("GET", "/readyz")[:3:2] == (200, {"status": "ready", "kind": "text"})

    answers = _concurrently(lambda s: server.translate(s), text["sources"])
    assert [a[0] for a in answers] == [200] * SENTENCES
    assert [a[2]["outputs"][0] for a in answers] == text["decoded"]
    status, _, body = server.translate(text["sources"][:5])  # several in one request
    assert status == 200 and body["outputs"] == text["decoded"][:5]
    assert len(body["scores"]) == 5 and all(s < 0 for s in body["scores"])

    assert server.metric('t2t_serve_requests_total{code="200",endpoint="translate"}') == \
        SENTENCES + 1
    assert server.metric("t2t_serve_ready") == 1
    batches = server.metric("t2t_serve_batch_size_count")
    # The warm-up, then 45 sentences in fewer batches: requests were decoded together.
    assert 2 <= batches < SENTENCES + 1
    assert server.metric("t2t_serve_batch_size_sum") == 1 + SENTENCES + 5
    assert server.metric("t2t_serve_output_tokens_total") > 0
    assert server.metric("t2t_serve_queue_seconds_count") == 1 + SENTENCES + 5
    status, _, body = server.request("POST", "/v1/transcribe", b"RIFF",
                                     {"Content-Type": "audio/wav"})
    assert (status, body) == (404, {"error": "this server serves a text model; use "
                                             "/v1/translate"})
    status, _, body = server.translate("a house", n_best=2)
    assert status == 400 and body["error"].startswith("n_best=2: this server returns at most 1")

    # SIGTERM while requests are in flight: 4 requests of 40 sentences each (20 batches).
    def translate_all(_):
      return server.translate(text["sources"])
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
      in_flight = [pool.submit(translate_all, i) for i in range(4)]
      deadline = time.time() + 60
      while server.metric("t2t_serve_requests_in_flight") < 4 and time.time() < deadline:
        pass
      assert server.metric("t2t_serve_queue_depth") > 0  # most are still to be decoded
      server.terminate()
      answers = [f.result() for f in in_flight]
    assert [a[0] for a in answers] == [200] * 4
    assert all(a[2]["outputs"] == text["decoded"] for a in answers)
    assert server.stop() == 0
    (drained,) = [line for line in server.lines if "drained" in line]
    assert re.search(r"drained: (\d+) of \1 accepted requests answered", drained), drained
    with pytest.raises(ConnectionRefusedError):  # no longer accepting
      server.request("GET", "/healthz")
  finally:
    server.stop()


def test_ctranslate2_server_answers_like_the_decoder(text):
  server = Server("--engine=ctranslate2", f"--export_dir={text['exports']['ctranslate2']}",
                  "--max_batch_size=16", "--max_batch_delay_ms=10")
  try:
    server.wait_for("t2t-serve: ready")
    answers = _concurrently(lambda s: server.translate(s), text["sources"], workers=16)
    assert [a[2]["outputs"][0] for a in answers] == text["decoded"]
    status, _, body = server.translate(text["sources"][:3])
    assert status == 200 and body["outputs"] == text["decoded"][:3]
  finally:
    assert server.stop() == 0


def test_limits_are_413_bad_input_400_and_a_full_queue_429(text):
  server = Server("--engine=ctranslate2", f"--export_dir={text['exports']['ctranslate2']}",
                  "--max_batch_size=1", "--max_batch_delay_ms=0", "--max_queue=3",
                  "--max_request_sentences=3", "--max_request_chars=300",
                  "--max_input_tokens=40", "--max_body_bytes=2000")
  try:
    server.wait_for("t2t-serve: ready")
    cases = [
        (json.dumps({"text": "x" * 301}), 413, "301 characters in one request; at most 300 "
                                              "(--max_request_chars)"),
        (json.dumps({"text": " ".join(["house"] * 45)}), 413, "input 0 has "),
        (json.dumps({"text": ["a"] * 4}), 413, "4 inputs in one request; at most 3 "
                                               "(--max_request_sentences)"),
        (json.dumps({"text": "a " * 1500}), 413, "the request body has 3012 bytes; at most "
                                                 "2000 are accepted (--max_body_bytes)"),
        ('{"text": "a house"', 400, "the request body is not valid JSON"),
        ('["a house"]', 400, "the request body must be a JSON object"),
        ('{"txt": "a house"}', 400, 'the JSON object needs a "text" field'),
        ('{"text": [1, 2]}', 400, '"text" must be a string or a non-empty list of them'),
        ('{"text": "a", "n_best": 0}', 400, '"n_best" must be a positive integer'),
    ]
    for body, status, message in cases:
      got, _, answer = server.request("POST", "/v1/translate", body,
                                      {"Content-Type": "application/json"})
      assert (got, answer["error"][:len(message)]) == (status, message), (body, answer)
    # 24 clients at once, 3 sentences each, and room for 3 queued sentences: most are
    # refused with a Retry-After; every other one is answered in full.
    answers = _concurrently(lambda _: server.translate(text["sources"][:3]), range(24),
                            workers=24)
    refused = [a for a in answers if a[0] == 429]
    assert refused and all(int(a[1]["retry-after"]) >= 1 for a in refused)
    assert refused[0][2]["error"].startswith("the queue is full; retry in ")
    assert all(a[2]["outputs"] == text["decoded"][:3] for a in answers if a[0] == 200)
    assert {a[0] for a in answers} <= {200, 429}
    assert server.metric('t2t_serve_errors_total{reason="queue_full"}') == len(refused)
  finally:
    assert server.stop() == 0


def test_speech_server_transcribes_wav_bytes_and_base64_like_the_decoder(speech_outputs):
  wavs, decoded = speech_outputs["wavs"], speech_outputs["decoded"]
  export_dir = speech_outputs["export_dir"]
  files = [open(w, "rb").read() for w in wavs]
  # Room for any one file and the 3 of the base64 request, not for 4 times as many.
  seconds = [len(audio.read_wav(w)) / 16000 for w in wavs]
  limit = round(max(sum(seconds[:3]), max(seconds)) + 0.1, 1)
  server = Server(f"--export_dir={export_dir}", "--max_batch_size=4", "--max_batch_delay_ms=20",
                  f"--max_audio_seconds={limit}")
  try:
    server.wait_for("t2t-serve: ready")
    answers = _concurrently(lambda data: server.request(
        "POST", "/v1/transcribe", data, {"Content-Type": "audio/wav"}), files)
    assert [a[2]["outputs"][0] for a in answers] == decoded
    encoded = [base64.b64encode(f).decode() for f in files[:3]]
    status, _, body = server.request("POST", "/v1/transcribe", {"audio": encoded})
    assert (status, body["outputs"]) == (200, decoded[:3])
    status, _, body = server.request("POST", "/v1/transcribe", b"not audio",
                                     {"Content-Type": "audio/wav"})
    assert (status, body["error"]) == (400, "input 0: audio is not a readable WAV file (file "
                                            "does not start with RIFF id); send 16-bit PCM "
                                            "WAV at 16000 Hz")
    status, _, body = server.request("POST", "/v1/transcribe", {"audio": "%%%"})
    assert (status, body["error"]) == (400, '"audio" is not valid base64')
    status, _, body = server.request("POST", "/v1/transcribe", {"audio": encoded * 4})
    assert status == 413 and f"s of audio in one request; at most {limit} s" in body["error"]
    status, _, body = server.translate("a house")
    assert status == 404
    assert server.metric('t2t_serve_requests_total{code="200",endpoint="transcribe"}') == 9
  finally:
    assert server.stop() == 0


def test_tf_serving_predict_request_runs_through_the_exported_signature(text):
  """The REST :predict body of the serving guide, as the PredictRequest TensorFlow Serving
  makes of it, run through the SavedModel in this process: the decoder's outputs."""
  import tensorflow as tf
  import tensorflow_text  # noqa: F401  (the export's sentencepiece ops)

  from t2t_lite.serving import tf_serving
  signature = tf.saved_model.load(text["exports"]["saved_model"]).signatures["serving_default"]
  sources = text["sources"][:8]
  body = json.loads(json.dumps(tf_serving.rest_body("serving_default", {"inputs": sources})))
  assert body == {"signature_name": "serving_default", "inputs": {"inputs": sources}}
  request = tf_serving.predict_request("enxx", "serving_default", signature,
                                       tf_serving.inputs_of_rest_body(body))
  request = type(request).FromString(request.SerializeToString())  # as sent over gRPC
  response = tf_serving.predict(signature, request)
  outputs = tf.make_ndarray(response.outputs["outputs"])
  assert [o.decode() for o in outputs] == text["decoded"][:8]
  assert tf.make_ndarray(response.outputs["scores"]).shape == (8,)
  with pytest.raises(Exception, match="takes inputs"):
    tf_serving.predict_request("enxx", "serving_default", signature, {"text": sources})
  wav = tf_serving.rest_body("serving_default", {"wav": [b"RIFF\x00"]})
  assert tf_serving.inputs_of_rest_body(wav) == {"wav": [b"RIFF\x00"]}


def test_ctranslate2_n_best_lists_come_from_one_beam_search(text):
  from t2t_lite.serving.ctranslate2_engine import CTranslate2Engine
  engine = CTranslate2Engine(text["exports"]["ctranslate2"], intra_threads=1, beam_size=4)
  sources = text["sources"][:4]
  payloads = [engine.prepare(s)[0] for s in sources]
  results = engine.decode(payloads, n_best=3)
  best = engine.decode(payloads, n_best=1)
  for result, single in zip(results, best):
    assert len(result.n_best) == 3 and result.n_best[0] == result.best == single.best
    scores = [h.score for h in result.n_best]
    assert scores == sorted(scores, reverse=True)
    assert len({h.text for h in result.n_best}) == 3


def test_a_request_not_answered_in_time_gets_504_and_still_counts_as_answered(text):
  # 1 ms cannot hold the decoding of 32 sentences: every request times out, and the drain
  # still finds every accepted request answered (a 504 is an answer).
  server = Server("--engine=ctranslate2", f"--export_dir={text['exports']['ctranslate2']}",
                  "--request_timeout_s=0.001")
  try:
    server.wait_for("t2t-serve: ready")
    status, _, answer = server.translate((text["sources"] * 4)[:32])
    assert status == 504
    assert answer["error"] == "not answered within 0.001 s (--request_timeout_s)"
    assert server.metric('t2t_serve_errors_total{reason="timeout"}') == 1
  finally:
    assert server.stop() == 0
