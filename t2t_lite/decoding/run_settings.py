"""A run's own search settings: OUTPUT_DIR/decode.json beside hparams.json.

Written by `t2t-decoder --save_decode_hparams` (the values of --decode_hparams, or the best
of --tune_decode_hparams); later t2t-decoder and t2t-exporter runs of that output_dir start
from them, and --decode_hparams given on the command line overrides them one by one.
"""
import json
import os

import tensorflow as tf

from t2t_lite.data.text_encoder import write_text_atomically
from t2t_lite.errors import UserError

FILE = "decode.json"
# The settings of the search itself (not of batching or of what to decode).
SAVED = ("beam_size", "alpha", "length_penalty", "extra_length")


def path(output_dir):
  return os.path.join(output_dir, FILE)


def read(output_dir) -> dict:
  """{name: value} saved with the run ({} when none)."""
  if not tf.io.gfile.exists(path(output_dir)):
    return {}
  with tf.io.gfile.GFile(path(output_dir)) as f:
    try:
      values = json.load(f)
    except json.JSONDecodeError as e:
      raise UserError(f"{path(output_dir)} is not valid JSON ({e}); delete it or save it "
                      "again with t2t-decoder --save_decode_hparams") from None
  if not isinstance(values, dict) or set(values) - set(SAVED):
    raise UserError(f"{path(output_dir)} may hold only {', '.join(SAVED)}; found "
                    f"{values!r}")
  return values


def save(output_dir, decode_hparams) -> str:
  """Writes the search settings of decode_hparams (a DecodeHParams) to decode.json."""
  values = {k: getattr(decode_hparams, k) for k in SAVED}
  write_text_atomically(path(output_dir), json.dumps(values, indent=2, sort_keys=True) + "\n")
  return path(output_dir)
