"""Small exports: a serving module's SavedModel with float16, bfloat16 or int8 weights, and
TFLite models of a speech model for phones and Raspberry Pi-class devices.

SavedModel. The weights are stored in the smaller type and widened to float32 inside the
graph when a signature runs (the model's layers read them through a Keras StatelessScope
that maps each variable to its widened value), so the file shrinks and any TensorFlow
runtime serves it unchanged. int8 is post-training dynamic-range quantization per output
channel: w ~ scale[c] * q with q = round(w / scale[c]) in [-127, 127], scale[c] =
max |w[..., c]| / 127, for every weight of rank >= 2; biases and normalization statistics
(rank <= 1, a tiny share of the bytes) stay float32, as TFLite's dynamic-range
quantization keeps them.

TFLite. `tflite_transcriber` converts waveform -> CTC greedy ids of one utterance with the
TFLite converter: float32, float16 weights (supported_types), or int8 dynamic-range
(Optimize.DEFAULT; TFLite's own kernels then run int8 matmuls). Ops without a TFLite
builtin (the STFT's framing) run through the Flex delegate that the TensorFlow pip
package's tf.lite.Interpreter includes; a device runtime needs the select-TF-ops build.
"""
import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from t2t_lite.errors import UserError

WEIGHT_DTYPES = ("float32", "float16", "bfloat16", "int8")
TFLITE_DTYPES = ("float32", "float16", "int8")


def _encode(value, dtype):
  """A float32 weight as stored: [one variable] (16-bit) or [int8 values, scales]."""
  if dtype == "int8" and value.ndim >= 2:
    scale = np.maximum(np.abs(value).reshape(-1, value.shape[-1]).max(0), 1e-12) / 127.0
    q = np.clip(np.round(value / scale), -127, 127).astype(np.int8)
    return [tf.Variable(q, trainable=False), tf.Variable(scale.astype(np.float32),
                                                         trainable=False)]
  if dtype in ("float16", "bfloat16"):
    return [tf.Variable(tf.cast(value, dtype), trainable=False)]
  return [tf.Variable(value, trainable=False)]


def _decode(stored, dtype):
  if len(stored) == 2:
    return tf.cast(stored[0], tf.float32) * stored[1]
  return tf.cast(stored[0], tf.float32)


class ReducedPrecisionServing(tf.Module):
  """The signatures of `serving` (a module whose functions run `model`), reading the
  model's weights from copies stored as `dtype`. Only the copies are saved."""

  def __init__(self, serving, model, dtype):
    super().__init__()
    if dtype not in WEIGHT_DTYPES:
      raise UserError(f"weights dtype {dtype} is not one of {', '.join(WEIGHT_DTYPES)}")
    # Untracked (object.__setattr__ bypasses tf.Module's tracking), so the float32
    # variables they hold stay out of the SavedModel.
    object.__setattr__(self, "_serving", serving)
    object.__setattr__(self, "_model_variables", list(model.variables))
    self.dtype_name = dtype
    self.stored = [_encode(v.numpy(), dtype) for v in self._model_variables]
    self._signatures = {}
    for name, fn in serving.signatures().items():
      self._signatures[name] = tf.function(self._wrap(fn), input_signature=fn.input_signature)

  def _wrap(self, fn):
    python_fn = fn.python_function  # traced anew, inside the scope below

    def run(*args):
      mapping = [(v, _decode(s, self.dtype_name))
                 for v, s in zip(self._model_variables, self.stored)]
      with keras.StatelessScope(state_mapping=mapping):
        return python_fn(*args)
    return run

  def signatures(self):
    return self._signatures


def stored_bytes(export_dir):
  """Bytes of a SavedModel's variables (its weights) and of the whole directory."""
  weights = total = 0
  for root, _, files in tf.io.gfile.walk(export_dir):
    for name in files:
      size = tf.io.gfile.stat(f"{root}/{name}").length
      total += size
      weights += size if "/variables" in root else 0
  return weights, total


class _Transcriber(tf.Module):
  """One utterance's waveform [n] (float32 in [-1, 1]) -> CTC greedy ids [t]."""

  def __init__(self, model, problem, hparams):
    super().__init__()
    self.model = model
    self._problem, self._hparams = problem, hparams

  @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="waveform")])
  def transcribe(self, waveform):
    samples = tf.cast(tf.round(tf.clip_by_value(waveform, -1.0, 32767 / 32768) * 32768.0),
                      tf.int16)
    example = {"waveform": samples, "targets": tf.zeros([0], tf.int32)}
    features = self._problem.preprocess_example(example, False, self._hparams)["inputs"]
    logits = self.model({"inputs": features[None],
                         "inputs_length": tf.shape(features)[:1]}, training=False)[0]
    best = tf.argmax(logits, axis=-1, output_type=tf.int32)
    previous = tf.concat([[-1], best[:-1]], axis=0)
    return {"ids": tf.boolean_mask(best, tf.not_equal(best, 0) & tf.not_equal(best, previous))}


def tflite_transcriber(model, problem, hparams, dtype="float32"):
  """The bytes of a TFLite model: waveform [n] -> ids [t] (CTC greedy), weights `dtype`."""
  if dtype not in TFLITE_DTYPES:
    raise UserError(f"TFLite weights dtype {dtype} is not one of {', '.join(TFLITE_DTYPES)}")
  module = _Transcriber(model, problem, hparams)
  # Weights as constants: the converter would otherwise keep them as resource variables,
  # which a TFLite interpreter leaves uninitialized.
  fn = convert_variables_to_constants_v2(module.transcribe.get_concrete_function())
  converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                         tf.lite.OpsSet.SELECT_TF_OPS]
  if dtype == "float16":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
  elif dtype == "int8":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  return converter.convert()


def tflite_transcribe(interpreter, waveform):
  """Runs a tflite_transcriber model (a tf.lite.Interpreter of it) on one waveform
  (float32 in [-1, 1]) -> CTC greedy ids."""
  waveform = np.asarray(waveform, np.float32)
  index = interpreter.get_input_details()[0]["index"]
  interpreter.resize_tensor_input(index, waveform.shape)
  interpreter.allocate_tensors()
  interpreter.set_tensor(index, waveform)
  interpreter.invoke()
  return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).tolist()
