"""t2t-serve: serves an exported model over HTTP, with dynamic batching, Prometheus
metrics, health and readiness endpoints, limits, and a graceful drain on SIGTERM.

  t2t-serve --export_dir=runs/enxx/export/100000 --port=8080
  t2t-serve --engine=ctranslate2 --export_dir=runs/enxx/ct2_int8 --beam_size=4
  curl -d '{"text": ["a green garden"]}' localhost:8080/v1/translate
  curl --data-binary @a.wav -H 'Content-Type: audio/wav' localhost:8080/v1/transcribe

See t2t_lite/serving/http_app.py for the API and t2t_lite/serving/batcher.py for how
requests are batched.
"""
import os

from t2t_lite.bin import common_flags
from t2t_lite.errors import UserError
from t2t_lite.serving.server_options import ServeOptions

common_flags.define_flags(ServeOptions)
common_flags.define_gin_flags()


def configuration():
  """ServeOptions from the flags and gin (Serve.*)."""
  common_flags.parse_gin(ServeOptions)
  return ServeOptions.from_config()


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments {' '.join(argv[1:])}: t2t-serve "
                                 "takes flags only")
  settings = configuration()
  settings.check()
  export_dir = os.path.expanduser(settings.export_dir)
  if not os.path.isdir(export_dir):
    raise UserError(f"--export_dir={settings.export_dir} is not a folder")
  from t2t_lite.serving import server  # Starlette and uvicorn: after the checks above
  return server.serve(settings.replace(export_dir=export_dir),
                      log=common_flags.log_to_stderr)


def run():
  common_flags.run_main(main, "t2t-serve")


if __name__ == "__main__":
  run()
