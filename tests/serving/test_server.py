"""t2t-serve's server in this process, with a stand-in engine: ready after the warm-up,
answers over HTTP, drains on SIGTERM and exits 0; a port in use and an engine that cannot
load are one line each."""
import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from t2t_lite.errors import UserError
from t2t_lite.serving import server
from t2t_lite.serving.server_options import ServeOptions
from tests.serving.fake_engine import UpperEngine


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _get(url, body=None):
  request = urllib.request.Request(url, data=body, headers={"Content-Type":
                                                            "application/json"})
  try:
    with urllib.request.urlopen(request, timeout=10) as r:
      return r.status, json.loads(r.read())
  except urllib.error.HTTPError as e:
    return e.code, json.loads(e.read())
  except OSError:
    return None, None


def test_serves_then_drains_on_sigterm():
  port = _free_port()
  settings = ServeOptions(export_dir="e", port=port, max_batch_delay_ms=0)
  base, seen, lines = f"http://127.0.0.1:{port}", {}, []

  def client():
    deadline = time.time() + 30
    while _get(base + "/readyz")[0] != 200 and time.time() < deadline:
      time.sleep(0.05)
    seen["translate"] = _get(base + "/v1/translate", json.dumps({"text": "a b"}).encode())
    os.kill(os.getpid(), signal.SIGTERM)  # the server drains and returns
  thread = threading.Thread(target=client, daemon=True)
  thread.start()
  status = server.serve(settings, log=lines.append, engine_factory=lambda s: UpperEngine())
  thread.join(10)
  assert status == 0
  assert seen["translate"] == (200, {"outputs": ["A B"], "scores": [-1.0]})
  assert lines[0] == f"t2t-serve: listening on http://127.0.0.1:{port}; loading the model"
  assert lines[1].startswith("t2t-serve: ready: a text model from e")
  assert lines[-1] == ("t2t-serve: drained: 1 of 1 accepted requests answered; exiting")


def test_an_engine_that_cannot_load_exits_2(capsys):
  def fail(settings):
    raise UserError("no model in e")
  settings = ServeOptions(export_dir="e", port=_free_port())
  assert server.serve(settings, log=lambda line: None, engine_factory=fail) == 2
  assert capsys.readouterr().err == "t2t-serve: error: no model in e\n"


def test_a_port_in_use_is_one_line():
  sock = server.listening_socket("127.0.0.1", 0)
  try:
    port = sock.getsockname()[1]
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    with pytest.raises(UserError, match=rf"^cannot listen on 127.0.0.1:{port} \(.+\); pass "
                                        "another --port or --host$"):
      server.listening_socket("127.0.0.1", port)
  finally:
    sock.close()
