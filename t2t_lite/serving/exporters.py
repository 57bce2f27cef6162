"""What t2t-exporter writes of a trained run, by what its problem emits.

An Exporter wraps a restored Decoder (its model, problem, vocabulary and search settings)
and makes its SavedModel serving module, its CTranslate2 model or its TFLite model. The
exporter of a run is registry.exporters[problem.emits] (exporter_for): text problems get
strings in and out, CTC-frame (speech) problems WAV bytes in and transcripts out.
"""
import abc

from t2t_lite import registry
from t2t_lite.capabilities import Streaming
from t2t_lite.errors import UserError
from t2t_lite.serving import ctranslate2_export, export, small_export, speech_streaming


class Exporter(abc.ABC):
  """Exports one decoder's model; formats it has no export for fail with one line."""

  def __init__(self, decoder):
    self.decoder = decoder
    self.problem, self.model, self.hparams = decoder.problem, decoder.model, decoder.hparams
    self.dhp = decoder.dhp

  def _name(self):  # how failures name the decoding, as they did when decoders exported
    return type(self.decoder).__name__

  @abc.abstractmethod
  def serving_module(self, dtype: str = "float32"):
    """The tf.Module t2t-exporter saves; its signatures() name the serving functions.
    `dtype`: its weights and computation (export.EXPORT_DTYPES)."""

  def export_ctranslate2(self, export_dir: str, quantization: str = "none",
                         num_positions: int = 1024) -> str:
    """Writes the model as a CTranslate2 model (ctranslate2_export.py)."""
    raise UserError(f"problem '{self.problem.name}' ({self._name()}) has no "
                    "CTranslate2 export; use --export_format=savedmodel")

  def tflite_model(self, dtype="float32"):
    """t2t-exporter --tflite: (the TFLite model's bytes, the text of each output id)."""
    raise UserError(f"--tflite: problem '{self.problem.name}' has no TFLite export")


@registry.register_exporter("text")
class TextExporter(Exporter):

  def serving_module(self, dtype="float32"):
    """Strings in, strings out."""
    model = export.with_dtype(self.model, dtype, self.problem.has_inputs)
    return export.TextServing(model, self.problem, self.decoder.encoders, self.dhp.search())

  def export_ctranslate2(self, export_dir, quantization="none", num_positions=1024):
    """A Translator (or, for a language model, a Generator) with the vocabulary's pieces
    and its sentencepiece model."""
    return ctranslate2_export.export(self.model, self.decoder.encoders, export_dir,
                                     quantization, num_positions,
                                     metadata={"problem": self.problem.name})


@registry.register_exporter("ctc_frames")
class SpeechExporter(Exporter):

  def serving_module(self, dtype="float32"):
    """WAV bytes (or float waveforms) in, transcripts out."""
    if self.dhp.lm_path:
      raise UserError("--decode_hparams lm_path: an exported model searches in its graph, "
                      "without a language model; export without lm_path (t2t-decoder "
                      "decodes with the LM)")
    hp = self.hparams
    streams = isinstance(self.model, Streaming) and type(self.model).streams(hp) and (
        hp.audio_normalization == "global" and not hp.audio_add_deltas)
    serving = speech_streaming.StreamingSpeechServing if streams else export.SpeechServing
    timing = (export.WordTiming(self.decoder.words, self.decoder.frame_seconds)
              if self.dhp.word_timestamps else None)
    return serving(export.with_dtype(self.model, dtype), self.problem, hp,
                   self.decoder.data_dir, self.dhp.search(), timing)

  def tflite_model(self, dtype="float32"):
    """One utterance's waveform in, CTC greedy ids out (pieces: the vocabulary's, with a
    SentencePiece word boundary written as a space)."""
    if dtype not in small_export.TFLITE_DTYPES:
      raise UserError(f"--tflite: TFLite stores float32, float16 or int8 weights, not {dtype}")
    encoder = self.decoder.encoder
    pieces = [p.replace(encoder.word_boundary or "\0", " ") if i > 1 else ""
              for i, p in enumerate(encoder.pieces)]
    return small_export.tflite_transcriber(self.model, self.problem, self.hparams,
                                           dtype), pieces


def exporter_for(decoder) -> Exporter:
  """The registered exporter of what the decoder's problem emits."""
  return registry.exporters.get(decoder.problem.emits)(decoder)
