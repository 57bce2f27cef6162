"""SavedModels of trained models: strings in and out for text, WAV audio in and
transcripts out for speech. Search settings (beam size, alpha, extra length) are fixed at
export time. Loading needs TensorFlow only (plus `import tensorflow_text` for models with
a sentencepiece vocabulary), never t2t_lite.

Signatures:
- text: `serving_default` inputs: string [b] -> outputs: string [b], scores: float [b];
  `ids` inputs: int32 [b, n] (0-padded, sources ending with EOS) -> outputs: int32 [b, t].
  For a language model the inputs are prompts that the outputs continue.
- speech: `serving_default` wav: string [b] (16 kHz, 16-bit PCM WAV files' bytes) ->
  outputs: string [b]; `waveform` waveform: float32 [b, n] in [-1, 1], length: int32 [b]
  -> outputs: string [b]. Exported with word timestamps, both also return
  word_start_seconds and word_end_seconds: float32 [b, words], -1 past the last word.
- any model (PredictServing): `predict` takes the batched features of the model's
  decode_feature_spec and returns outputs: int32 [b, t] and scores [b].

Reduced precision (`with_dtype`): a bfloat16 or float16 export stores its weights in 16
bits (half the size on disk) and computes in 16 bits; what needs float32's precision or
range still computes in it (layer norms, the attention softmax, the search's scores).
"""
import typing

import keras
import tensorflow as tf
from tensorflow.python.trackable import data_structures

from t2t_lite.data import audio, text_encoder
from t2t_lite.decoding import ctc, ctc_timing
from t2t_lite.errors import UserError
from t2t_lite.serving import graph_text

EXPORT_DTYPES = ("float32", "bfloat16", "float16")


def with_dtype(model, dtype, has_inputs=True):
  """`model` itself for float32, else a copy of it built under Keras' pure `dtype` policy
  (variables and computation in dtype) holding its weights rounded to dtype."""
  if dtype == "float32":
    return model
  if dtype not in EXPORT_DTYPES:
    raise UserError(f"--export_dtype={dtype} must be one of {', '.join(EXPORT_DTYPES)}")
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(dtype)
  try:
    copy = type(model)(model.hparams)
    copy.build_from_features(copy.dummy_features(has_inputs))
  except (tf.errors.OpError, ValueError, TypeError) as e:
    # A layer that mixes float32 and 16-bit tensors (e.g. DeepSpeech2's recurrence).
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise UserError(f"--export_dtype={dtype}: model {model.registry_name()} does not build "
                    f"with {dtype} weights ({first_line[:200]}); export it in float32") \
        from None
  finally:
    keras.config.set_dtype_policy(previous)
  # Built from the same hparams in the same order: the variables pair up one to one.
  source, target = model.variables, copy.variables
  if [v.shape for v in source] != [v.shape for v in target]:
    raise UserError(f"model {model.registry_name()} builds different variables under the "
                    f"{dtype} policy; it cannot be exported in {dtype}")
  for s, t in zip(source, target):
    t.assign(tf.cast(s, t.dtype))
  return copy


class PredictServing(tf.Module):
  """Any model's predict() as one signature over its declared decode features, batched."""

  def __init__(self, model, hparams, search):
    super().__init__()
    self.model = _untracked(model)
    spec = type(model).decode_feature_spec(hparams)
    names = sorted(spec)

    def predict(*tensors):
      ids, scores = model.predict(dict(zip(names, tensors)), search)
      return {"outputs": ids, "scores": scores}
    self.predict = tf.function(predict, input_signature=[
        tf.TensorSpec([None, *spec[n].shape], spec[n].dtype, name=n) for n in names])

  def signatures(self):
    return {"predict": self.predict}


class TextServing(tf.Module):

  def __init__(self, model, problem, encoders, search):
    super().__init__()
    self.model = _untracked(model)
    self.inputs_tokenizer = graph_text.graph_tokenizer(encoders["inputs"])
    self.targets_tokenizer = (self.inputs_tokenizer if encoders["inputs"] is encoders["targets"]
                              else graph_text.graph_tokenizer(encoders["targets"]))
    self._prompts = not problem.has_inputs
    self._search = search

  @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="inputs")])
  def ids(self, inputs):
    outputs, scores = self.model.predict({"inputs": inputs}, self._search)
    return {"outputs": outputs, "scores": scores}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
  def serve(self, inputs):
    ids = self.inputs_tokenizer.encode(inputs)
    if not self._prompts:  # a source ends with EOS; a prompt goes on
      eos = tf.fill([tf.shape(inputs)[0], 1], text_encoder.EOS_ID)
      ids = tf.concat([ids, tf.RaggedTensor.from_tensor(eos)], axis=1)
    outputs, scores = self.model.predict({"inputs": ids.to_tensor()}, self._search)
    return {"outputs": self.targets_tokenizer.decode(outputs), "scores": scores}

  def signatures(self):
    return {"serving_default": self.serve, "ids": self.ids}


class WordTiming(typing.NamedTuple):
  """What word timing outputs need: how pieces make words (ctc_lm.Words) and the seconds
  of one frame of the model's frame_log_probs."""
  words: typing.Any
  frame_seconds: float


class SpeechServing(tf.Module):
  """With `word_timing` (greedy search only), the transcribing signatures also return
  each word's `word_start_seconds` and `word_end_seconds` [b, words] (-1 past the last
  word; the words are the transcript's, split at spaces)."""

  def __init__(self, model, problem, hparams, data_dir, search, word_timing=None):
    super().__init__()
    self.model = _untracked(model)
    self._problem, self._hparams = problem, hparams
    self._detokenize = problem.detokenizer(data_dir)
    self._search = search
    if word_timing is not None and search.beam_size != 1:
      raise UserError("word timestamps in an export come from the greedy CTC alignment; "
                      "export with --decode_hparams=beam_size=1,word_timestamps=true")
    self._word_timing = word_timing

  def _features(self, waveform, length):
    """One utterance's features, from the problem's own (eval-mode) preprocessing."""
    samples = tf.cast(tf.round(tf.clip_by_value(waveform[:length], -1.0, 32767 / 32768)
                               * 32768.0), tf.int16)
    example = {"waveform": samples, "targets": tf.zeros([0], tf.int32)}
    return self._problem.preprocess_example(example, False, self._hparams)["inputs"]

  @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform"),
                                tf.TensorSpec([None], tf.int32, name="length")])
  def transcribe(self, waveform, length):
    depth = audio.feature_depth(self._hparams)  # the model needs it static
    features = tf.map_fn(
        lambda args: self._features(*args), (waveform, length),
        fn_output_signature=tf.RaggedTensorSpec([None, depth], tf.float32, ragged_rank=0))
    frames = tf.cast(features.row_lengths(), tf.int32)
    inputs = {"inputs": features.to_tensor(), "inputs_length": frames}
    if self._word_timing is None:
      ids, _ = self.model.predict(inputs, self._search)
      return {"outputs": self._detokenize(ids)}
    log_probs, lengths = self.model.frame_log_probs(inputs)
    starts, ends = ctc_timing.greedy_word_times(log_probs, lengths, *self._word_timing)
    return {"outputs": self._detokenize(ctc.greedy(log_probs, lengths)),
            "word_start_seconds": starts, "word_end_seconds": ends}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="wav")])
  def serve(self, wav):
    def decode(contents):
      audio, rate = tf.audio.decode_wav(contents, desired_channels=1)
      tf.debugging.assert_equal(rate, 16000, message="audio must be sampled at 16 kHz")
      return audio[:, 0]
    audio = tf.map_fn(decode, wav, fn_output_signature=tf.RaggedTensorSpec(
        [None], tf.float32, ragged_rank=0))
    return self.transcribe(audio.to_tensor(), tf.cast(audio.row_lengths(), tf.int32))

  def signatures(self):
    return {"serving_default": self.serve, "waveform": self.transcribe}


def _untracked(model):
  """The model, held by a serving module without making it part of the SavedModel: the
  SavedModel holds the tf.Variables its functions capture (see export()). Tracked through
  Keras' variable wrappers as well, every weight was written twice."""
  return data_structures.NoDependency(model)


def export(module, export_dir):
  """Writes the SavedModel atomically: to a temp folder, renamed when complete."""
  tmp = export_dir.rstrip("/") + ".incomplete"
  if tf.io.gfile.exists(tmp):
    tf.io.gfile.rmtree(tmp)
  signatures = module.signatures()
  # Keras 3 variables wrap the tf.Variables the functions capture. Tracked only through
  # the wrappers, those are restored by tf.saved_model.load but not by the session-based
  # loader of TensorFlow Serving and saved_model_cli ("Resource ... does not exist"), so
  # the captured variables themselves are tracked (as keras.export does), and the model
  # is not (_untracked): each weight is written once.
  captured = {}
  for fn in signatures.values():
    for v in fn.get_concrete_function().variables:
      captured.setdefault(id(v), v)
  module.captured_variables = list(captured.values())
  tf.saved_model.save(module, tmp, signatures=signatures)
  tf.io.gfile.rename(tmp, export_dir, overwrite=False)
  return export_dir
