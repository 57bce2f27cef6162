"""Runs t2t-serve: uvicorn serving the Starlette app (http_app.py) while the model loads
in a thread; ready once loaded and warmed up through the whole batching path.

SIGTERM (and SIGINT) drain: uvicorn stops accepting connections, /readyz turns 503, every
request already accepted is decoded and answered, the batcher empties, and the process
exits 0, within Kubernetes' termination grace period when --request_timeout_s fits in
it. Uvicorn itself would re-raise the signal after its shutdown (an exit by signal, not
status 0): DrainingServer keeps the exit a normal one."""
import asyncio
import contextlib
import signal
import socket
import sys
import threading

import uvicorn

from t2t_lite.errors import UserError
from t2t_lite.serving import http_app
from t2t_lite.serving.batcher import Batcher
from t2t_lite.serving.server_metrics import ServerMetrics


def load_engine(settings):
  """The engine --engine names, loaded from --export_dir."""
  if settings.engine == "ctranslate2":
    # Each engine imports its runtime (ctranslate2, or TensorFlow): only the one served.
    from t2t_lite.serving.ctranslate2_engine import CTranslate2Engine
    return CTranslate2Engine(settings.export_dir, settings.intra_threads, settings.beam_size,
                             settings.length_penalty, settings.max_decoding_length)
  from t2t_lite.serving.saved_model_engine import SavedModelEngine  # TensorFlow: see above
  return SavedModelEngine(settings.export_dir, settings.intra_threads)


class DrainingServer(uvicorn.Server):
  """uvicorn's server; a signal marks the state draining and ends in a normal exit."""

  def __init__(self, config, state):
    super().__init__(config)
    self.state = state

  @contextlib.contextmanager
  def capture_signals(self):
    handled = (signal.SIGINT, signal.SIGTERM)
    original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
    try:
      yield
    finally:
      for sig, handler in original.items():
        signal.signal(sig, handler)

  def handle_exit(self, sig, frame):
    self.state.draining = True
    self.state.set_ready(self.state.ready)
    super().handle_exit(sig, frame)


def serve(settings, log=print, engine_factory=load_engine):
  """Serves until a signal; returns the exit status (0 after a drain, 2 if the model
  could not be loaded)."""
  state = http_app.ServerState(settings, ServerMetrics())
  failure = []

  def load_and_warm_up(loop):
    try:
      engine = engine_factory(settings)
      state.engine = engine
      future = asyncio.run_coroutine_threadsafe(_warm_up(state), loop)
      future.result()
      state.set_ready(True)
      log(f"t2t-serve: ready: a {engine.kind} model from {settings.export_dir} "
          f"(--engine={settings.engine}) on http://{settings.host}:{port}")
    except Exception as e:  # pylint: disable=broad-except
      message = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
      failure.append(message.strip().splitlines()[0] if message.strip() else message)
      server.should_exit = True

  @contextlib.asynccontextmanager
  async def lifespan(app):
    state.batcher = Batcher(lambda payloads, n_best: state.engine.decode(payloads, n_best),
                            settings.max_batch_size, settings.max_batch_tokens,
                            settings.max_batch_delay_ms / 1000.0, settings.max_queue,
                            state.metrics.observe_batch)
    state.batcher.start()
    threading.Thread(target=load_and_warm_up, args=(asyncio.get_running_loop(),),
                     name="load", daemon=True).start()
    yield
    await state.batcher.drain()

  sock = listening_socket(settings.host, settings.port)
  port = sock.getsockname()[1]
  log(f"t2t-serve: listening on http://{settings.host}:{port}; loading the model")
  app = http_app.application(state, lifespan)
  config = uvicorn.Config(app, host=settings.host, port=port, log_level="warning",
                          access_log=False, lifespan="on", timeout_keep_alive=30)
  server = DrainingServer(config, state)
  server.run(sockets=[sock])
  if failure:
    print(f"t2t-serve: error: {failure[0]}", file=sys.stderr)
    return 2
  log(f"t2t-serve: drained: {state.answered} of {state.accepted} accepted requests "
      "answered; exiting")
  if state.answered != state.accepted:
    return 1
  return 0


def listening_socket(host, port):
  """The server's socket, bound here so that a port in use is one clear line."""
  family = socket.AF_INET6 if ":" in host else socket.AF_INET
  sock = socket.socket(family, socket.SOCK_STREAM)
  sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
  # Accepted connections inherit it. Without it, a keep-alive connection's every response
  # after the first waited ~40 ms (Nagle's algorithm against the client's delayed ACK):
  # uvicorn sets it only on sockets it binds itself.
  sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
  try:
    sock.bind((host, port))
  except OSError as e:
    sock.close()
    raise UserError(f"cannot listen on {host}:{port} ({e.strerror}); pass another --port "
                    "or --host") from None
  sock.listen(2048)
  sock.set_inheritable(True)
  return sock


async def _warm_up(state):
  engine = state.engine
  prepared = [engine.prepare(engine.warmup_item())]
  await asyncio.gather(*state.batcher.submit(prepared))
