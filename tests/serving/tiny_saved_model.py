"""SavedModels with t2t-exporter's signatures and stand-in computations (no model): text
(serving_default: strings in, upper-cased strings and their lengths as scores out) and
speech (waveform: samples and lengths in, "N samples" out)."""
import tensorflow as tf


class _Text(tf.Module):

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
  def serve(self, inputs):
    return {"outputs": tf.strings.upper(inputs),
            "scores": -tf.cast(tf.strings.length(inputs), tf.float32)}


class _Speech(tf.Module):

  @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform"),
                                tf.TensorSpec([None], tf.int32, name="length")])
  def waveform(self, waveform, length):
    peak = tf.cast(tf.round(tf.reduce_max(waveform, axis=1) * 32768.0), tf.int32)
    return {"outputs": tf.strings.join([tf.strings.as_string(length), " samples, peak ",
                                        tf.strings.as_string(peak)])}


def text(path):
  module = _Text()
  tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
  return str(path)


def speech(path):
  module = _Speech()
  tf.saved_model.save(module, str(path), signatures={"waveform": module.waveform})
  return str(path)
