"""A t2t-exporter SavedModel served by TensorFlow: text through its `serving_default`
signature (strings in, strings and scores out; tokenization inside the graph), speech
through `waveform` (the WAV's samples, read as t2t-decoder reads them, padded into one
batch). Search settings were fixed at export: one output per item."""
import io
import math
import wave

import numpy as np

from t2t_lite.errors import UserError
from t2t_lite.serving import engine
from t2t_lite.serving.engine import Hypothesis, Result

FRAME_SAMPLES = 160  # 10 ms at 16 kHz: speech lengths count frames


class SavedModelEngine(engine.Engine):

  def __init__(self, export_dir, intra_threads=0):
    import tensorflow as tf  # heavy: a CTranslate2 server never imports it
    try:
      import tensorflow_text  # noqa: F401  (sentencepiece ops of text exports)
    except ImportError:
      pass
    if intra_threads:
      tf.config.threading.set_intra_op_parallelism_threads(intra_threads)
    self._tf = tf
    try:
      loaded = tf.saved_model.load(export_dir)
    except (OSError, ValueError, tf.errors.OpError) as e:
      first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      raise UserError(f"--export_dir={export_dir} is not a loadable SavedModel ({first[:200]});"
                      " give t2t-exporter's EXPORT_DIR/STEP folder") from None
    self._loaded = loaded  # keeps the signatures' variables alive
    signatures = loaded.signatures
    default = signatures.get("serving_default")
    inputs = set(default.structured_input_signature[1]) if default is not None else set()
    if "waveform" in signatures:
      self.kind, self.has_scores, self.length_unit = "speech", False, "frames"
      self._fn = signatures["waveform"]
    elif inputs == {"inputs"}:
      self.kind = "text"
      self._fn = default
    else:
      raise UserError(f"--export_dir={export_dir}: a SavedModel without t2t-exporter's text "
                      "(serving_default: inputs) or speech (waveform) signature")

  def prepare(self, item):
    if self.kind == "text":
      return item, len(item.split()) + 1  # + EOS
    from t2t_lite.serving import wav_input  # TensorFlow (data.audio): see __init__
    samples = wav_input.samples(item)
    return samples, math.ceil(len(samples) / FRAME_SAMPLES)

  def decode(self, payloads, n_best=1):
    tf = self._tf
    if self.kind == "text":
      out = self._fn(inputs=tf.constant(payloads, tf.string))
      texts = [t.decode("utf-8") for t in out["outputs"].numpy()]
      scores = out["scores"].numpy().tolist()
      return [Result(Hypothesis(t, float(s)), output_tokens=len(t.split()))
              for t, s in zip(texts, scores)]
    width = max(len(p) for p in payloads)
    waveform = np.zeros([len(payloads), width], np.float32)
    for i, p in enumerate(payloads):
      waveform[i, :len(p)] = p / 32768.0
    out = self._fn(waveform=tf.constant(waveform),
                   length=tf.constant([len(p) for p in payloads], tf.int32))
    texts = [t.decode("utf-8") for t in out["outputs"].numpy()]
    return [Result(Hypothesis(t), output_tokens=len(t.split())) for t in texts]

  def warmup_item(self):
    if self.kind == "text":
      return "warm up"
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
      f.setnchannels(1)
      f.setsampwidth(2)
      f.setframerate(16000)
      f.writeframes(np.zeros(8000, "<i2").tobytes())
    return buffer.getvalue()
