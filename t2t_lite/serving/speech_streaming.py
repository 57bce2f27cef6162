"""Streaming transcription in a SavedModel: an audio chunk and the previous state in, the
transcript so far and the new state out.

  start = m.signatures["stream_start"]; step = m.signatures["stream"]
  state = start()                                   # {"state_...": tensors}
  for chunk, last in chunks:                        # float32 samples in [-1, 1], 16 kHz
    out = step(audio=chunk, final=tf.constant(last), **state)
    state = {k: v for k, v in out.items() if k.startswith("state_")}
    print(out["transcript"].numpy().decode())

Any chunking (one sample, a frame, a second) gives the whole utterance's transcript:
the front end cuts frames as the whole waveform's (stream_log_mel) and normalizes them
with the training set's global statistics; the model streams (causal convolutions,
left-to-right GRUs, the lookahead convolution holding back its last frames until their
future arrives or `final` flushes them); CTC greedy decoding carries the last frame's
label across chunks. A stream's state is a batch of one.
"""
import tensorflow as tf

from t2t_lite.data import audio
from t2t_lite.errors import UserError
from t2t_lite.serving import export


def check_streamable(model_cls, hparams):
  """Raises UserError unless the model and its front end stream."""
  model_cls.check_streaming(hparams)
  if hparams.audio_normalization != "global" or hparams.audio_add_deltas:
    raise UserError("streaming needs features a stream can compute: hparams "
                    "audio_normalization=global and audio_add_deltas=false (as a streaming "
                    "model's hparams sets set them)")


class StreamingSpeechServing(export.SpeechServing):
  """SpeechServing's signatures, plus `stream_start` and `stream`."""

  def __init__(self, model, problem, hparams, data_dir, search, word_timing=None):
    check_streamable(type(model), hparams)
    super().__init__(model, problem, hparams, data_dir, search, word_timing)
    initial = self._initial_state()
    self._names = sorted(initial)
    specs = [self._spec(name, initial[name]) for name in self._names]
    self.stream_start = tf.function(lambda: self._outputs(self._initial_state()),
                                    input_signature=[])
    self.stream = tf.function(self._stream, input_signature=[
        tf.TensorSpec([None], tf.float32, name="audio"),
        tf.TensorSpec([], tf.bool, name="final")] + specs)

  @staticmethod
  def _spec(name, tensor):
    """The state's shape with its growing axis (time, or the transcript) left open."""
    shape = list(tensor.shape)
    if name in ("samples", "ids"):
      shape = [None]
    elif name.startswith(("conv", "lookahead")):
      shape[1] = None
    return tf.TensorSpec(shape, tensor.dtype, name=f"state_{name}")

  def _initial_state(self):
    """The model's state (conv_i, rnn_i, lookahead), the samples of the next frame, the
    frames so far, the last frame's label and the transcript's ids."""
    return dict(self.model.initial_stream_state(1), samples=tf.zeros([0]),
                frames=tf.constant(0), last=tf.constant(0), ids=tf.zeros([0], tf.int32))

  def _outputs(self, state, transcript=None):
    out = {f"state_{k}": v for k, v in state.items()}
    if transcript is not None:
      out["transcript"] = transcript
    return out

  def _stream(self, chunk, final, *state_tensors):
    state = dict(zip(self._names, state_tensors))
    hp = self._hparams
    # The same 16-bit samples the whole-utterance signatures see.
    samples = tf.round(tf.clip_by_value(chunk, -1.0, 32767 / 32768) * 32768.0) / 32768.0
    frames, pending = audio.stream_log_mel(state["samples"], samples, final, state["frames"],
                                           hp)
    features = audio.normalize_globally(frames, hp)
    model_state = {k: v for k, v in state.items() if k.startswith(("conv_", "rnn_"))
                   or k == "lookahead"}
    logits, model_state = self.model.stream(features[None], model_state, final)
    best = tf.argmax(logits[0], axis=-1, output_type=tf.int32)
    previous = tf.concat([state["last"][None], best[:-1]], axis=0)
    new_ids = tf.boolean_mask(best, tf.not_equal(best, 0) & tf.not_equal(best, previous))
    ids = tf.concat([state["ids"], new_ids], axis=0)
    last = tf.cond(tf.size(best) > 0, lambda: best[-1], lambda: state["last"])
    new_state = dict(model_state, samples=pending,
                     frames=state["frames"] + tf.shape(frames)[0], last=last, ids=ids)
    return self._outputs(new_state, self._detokenize(ids[None])[0])

  def signatures(self):
    return dict(super().signatures(), stream_start=self.stream_start, stream=self.stream)
