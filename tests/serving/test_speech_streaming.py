"""Which models and front ends stream into a SavedModel, and the shapes of a stream's state
in the `stream` signature."""
import types

import pytest
import tensorflow as tf

from t2t_lite.errors import UserError
from t2t_lite.serving import speech_streaming
from t2t_lite.serving.speech_streaming import StreamingSpeechServing


class _Model:
  refuse = None

  @classmethod
  def check_streaming(cls, hp):
    if cls.refuse:
      raise UserError(cls.refuse)


def _hp(normalization="global", deltas=False):
  return types.SimpleNamespace(audio_normalization=normalization, audio_add_deltas=deltas)


def test_check_streamable():
  speech_streaming.check_streamable(_Model, _hp())
  for hp in (_hp("utterance"), _hp(deltas=True)):
    with pytest.raises(UserError, match="streaming needs features a stream can compute"):
      speech_streaming.check_streamable(_Model, hp)
  refusing = type("Refusing", (_Model,), {"refuse": "bidirectional GRUs do not stream"})
  with pytest.raises(UserError, match="bidirectional GRUs do not stream"):
    speech_streaming.check_streamable(refusing, _hp())


def test_state_specs_leave_the_growing_axis_open():
  def spec(name, shape, dtype=tf.float32):
    return StreamingSpeechServing._spec(name, tf.zeros(shape, dtype))  # pylint: disable=protected-access
  assert spec("samples", [0]) == tf.TensorSpec([None], tf.float32, name="state_samples")
  assert spec("ids", [0], tf.int32).shape.as_list() == [None]
  assert spec("conv_0", [1, 3, 8]).shape.as_list() == [1, None, 8]
  assert spec("lookahead", [1, 2, 8]).shape.as_list() == [1, None, 8]
  assert spec("rnn_0", [1, 16]).shape.as_list() == [1, 16]
  assert spec("frames", [], tf.int32) == tf.TensorSpec([], tf.int32, name="state_frames")
