"""What t2t-benchmark needs to know about a model family, behind one small interface.

An adapter makes the synthetic batch of a given shape, counts the model FLOPs of one
training step, names the throughput unit, decodes a batch, and counts real vs padded
units in a batch from the input pipeline. t2t-benchmark picks the adapter registered for
the nearest class in the model's MRO (`adapter_for`), so a subclass of Transformer is
measured as a Transformer and an unknown T2TModel falls back to the generic token
seq2seq adapter (which reports no FLOP count rather than a wrong one).

Shape words: `batch` examples, `src_len` input positions (tokens, or feature frames for
speech), `tgt_len` target tokens, `vocab_size` target symbols.
"""
import statistics
import time

import numpy as np
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.data.text_encoder import EOS_ID

_ADAPTERS = {}


def adapts(model_name):
  """Class decorator: the adapter for the registered model `model_name` and subclasses."""
  def register(adapter_cls):
    _ADAPTERS[model_name] = adapter_cls
    return adapter_cls
  return register


def adapter_for(model_cls):
  for cls in model_cls.__mro__:
    for name, adapter_cls in _ADAPTERS.items():
      if registry.model(name) is cls:
        return adapter_cls()
  return TokenSeq2SeqAdapter()


def _median_ms(times):
  return round(1e3 * statistics.median(times), 2)


def _timed(fn, repeats):
  """fn() once untimed (traces), then `repeats` timed calls -> (times, last result)."""
  fn()
  times, out = [], None
  for _ in range(repeats):
    start = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - start)
  return times, out


def _with_profile(result, call, profile):
  if profile:
    from t2t_lite import benchmark
    result["decode_profile"] = benchmark.profile_ops(call, calls=2)
  return result


class TokenSeq2SeqAdapter:
  """Any model on token ids ({"inputs", "targets"} -> logits), decoded by T2TModel.infer."""

  defaults = dict(batch=32, src_len=64, tgt_len=64, vocab_size=32768, decode_src_len=32)
  smoke_shape = dict(batch=4, src_len=8, tgt_len=8, vocab_size=64, decode_src_len=4)  # t2t-benchmark --smoke
  unit = "target_tokens"  # what training throughput counts
  decodes_to_length = True  # decoding runs to --decode_length (speech: to the input's end)

  def set_vocab(self, hp, vocab_size):
    hp.input_vocab_size = hp.target_vocab_size = vocab_size

  def synthetic_features(self, hp, batch, src_len, tgt_len, seed=1234):
    """Random ids without padding or EOS: every position is a real token."""
    rng = np.random.default_rng(seed)
    v = hp.target_vocab_size
    features = {"targets": tf.constant(rng.integers(2, v, (batch, tgt_len)), tf.int32)}
    if hp.get("has_inputs", True):
      features["inputs"] = tf.constant(rng.integers(2, v, (batch, src_len)), tf.int32)
    return features

  def units_per_step(self, hp, batch, src_len, tgt_len):
    return batch * tgt_len

  def train_flops(self, hp, batch, src_len, tgt_len):
    """Model FLOPs of one training step, or None when this family has no formula."""
    return None

  def decode_speed(self, model, hp, batch, src_len, output_length, beam_size, alpha,
                   repeats, profile=False):
    """Output tokens per second of beam search (each row decodes up to output_length
    tokens; tokens after an EOS are not counted); with `profile`, also the top op types'
    ms per decoded batch."""
    rng = np.random.default_rng(4321)
    ids = rng.integers(2, hp.target_vocab_size, (batch, src_len))
    ids[:, -1] = EOS_ID  # as the decoder feeds sources: tokens, then EOS
    inputs = tf.constant(ids, tf.int32)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def decode(x):
      return model.infer(x, beam_size=beam_size, alpha=alpha,
                         extra_length=output_length - src_len)[0]
    call = lambda: decode(inputs).numpy()
    times, out = _timed(call, repeats)
    tokens = 0
    for row in out:
      eos = np.flatnonzero(row == EOS_ID)
      tokens += int(eos[0]) + 1 if eos.size else len(row)
    result = {"decode": f"beam search, beam {beam_size}, cached", "decode_ms_per_batch":
              _median_ms(times), "decode_output_tokens": tokens,
              "decode_output_tokens_per_s": round(tokens / statistics.median(times), 1)}
    return _with_profile(result, call, profile)

  def batch_units(self, hp, batch):
    """(real, total) units of a batch from the input pipeline, in the unit of
    units_per_step: target tokens, padding (id 0) counted in total only."""
    targets = batch["targets"].numpy()
    return int((targets != 0).sum()), targets.size


@adapts("transformer")
class TransformerAdapter(TokenSeq2SeqAdapter):

  def train_flops(self, hp, batch, src_len, tgt_len):
    """3 x forward, 2 FLOPs per multiply-add, counted as the reference scripts count them
    (shared/bench/common.py): dense layers, attention scores and sums over the full
    square, the tied softmax. Embedding lookups, normalization and elementwise ops and
    the optimizer are not counted."""
    d, f = hp.hidden_size, hp.filter_size
    n_dec = hp.num_decoder_layers or hp.num_hidden_layers
    n_enc = (hp.num_encoder_layers or hp.num_hidden_layers) if hp.has_inputs else 0
    cross = 1 if hp.has_inputs else 0
    dense = 6 * (n_enc * (4 * d * d + 2 * d * f) * batch * src_len +
                 n_dec * ((4 + 4 * cross) * d * d + 2 * d * f) * batch * tgt_len)
    attention = 12 * batch * d * (n_enc * src_len ** 2 +
                                  n_dec * (tgt_len ** 2 + cross * tgt_len * src_len))
    softmax = 6 * hp.target_vocab_size * d * batch * tgt_len
    return dense + attention + softmax


@adapts("deep_speech2")
class SpeechCTCAdapter(TokenSeq2SeqAdapter):
  """Audio features [batch, frames, depth] + character targets; throughput in seconds of
  audio; decoding is CTC (greedy, or prefix beam search with beam_size > 1)."""

  defaults = dict(batch=16, src_len=400, tgt_len=40, vocab_size=30, decode_src_len=400)
  smoke_shape = dict(batch=2, src_len=48, tgt_len=6, vocab_size=30, decode_src_len=48)
  unit = "audio_seconds"
  decodes_to_length = False

  def set_vocab(self, hp, vocab_size):
    hp.target_vocab_size = vocab_size

  def _frame_s(self, hp):
    return hp.audio_frame_step_ms / 1000.0

  def _features(self, hp, batch, frames, seed):
    from t2t_lite.data import audio
    rng = np.random.default_rng(seed)
    return (tf.constant(rng.standard_normal((batch, frames, audio.feature_depth(hp)),
                                            dtype=np.float32)),
            tf.fill([batch], frames))

  def synthetic_features(self, hp, batch, src_len, tgt_len, seed=1234):
    inputs, lengths = self._features(hp, batch, src_len, seed)
    rng = np.random.default_rng(seed + 1)
    targets = rng.integers(2, hp.target_vocab_size, (batch, tgt_len))
    return {"inputs": inputs, "inputs_length": lengths,
            "targets": tf.constant(targets, tf.int32)}

  def units_per_step(self, hp, batch, src_len, tgt_len):
    return batch * src_len * self._frame_s(hp)

  def train_flops(self, hp, batch, src_len, tgt_len):
    """3 x forward: the convolutions (each pads kernel - 1, so its output has
    ceil(length / stride) frames and bins), the bidirectional GRUs (3 gates, input and
    recurrent matmuls) and the output layer, as shared/bench/common.py counts them."""
    from t2t_lite.data import audio
    t, f, channels = src_len, audio.feature_depth(hp), 1
    conv = 0
    for filters, kt, kf, st, sf in zip(hp.conv_filters, hp.conv_time_kernels,
                                       hp.conv_freq_kernels, hp.conv_time_strides,
                                       hp.conv_freq_strides):
      t, f = -(-t // st), -(-f // sf)
      conv += 2 * batch * t * f * filters * kt * kf * channels
      channels = filters
    h, n_in, gru = hp.rnn_hidden_size, channels * f, 0
    for _ in range(hp.num_rnn_layers):
      gru += 2 * 2 * batch * t * 3 * (n_in * h + h * h)
      n_in = 2 * h
    dense = 2 * batch * t * n_in * hp.target_vocab_size
    return 3 * (conv + gru + dense)

  def decode_speed(self, model, hp, batch, src_len, output_length, beam_size, alpha,
                   repeats, profile=False):
    """Utterances of src_len frames through the model and CTC decoding."""
    inputs, lengths = self._features(hp, batch, src_len, seed=4321)

    @tf.function
    def transcribe(x, n):
      return model.transcribe(x, n, beam_size=beam_size)
    call = lambda: transcribe(inputs, lengths).numpy()
    times, out = _timed(call, repeats)
    seconds = statistics.median(times)
    result = {
        "decode": f"CTC {'beam search, beam %d' % beam_size if beam_size > 1 else 'greedy'}",
        "decode_ms_per_batch": _median_ms(times),
        "decode_output_tokens": int((out != 0).sum()),
        "decode_output_tokens_per_s": round(int((out != 0).sum()) / seconds, 1),
        "decode_audio_s_per_s": round(batch * src_len * self._frame_s(hp) / seconds, 1)}
    return _with_profile(result, call, profile)

  def batch_units(self, hp, batch):
    """Seconds of audio: each utterance's inputs_length frames, padded to the batch's
    longest in total."""
    frames = int(batch["inputs_length"].numpy().sum())
    padded = int(batch["inputs"].shape[0] * batch["inputs"].shape[1])
    return frames * self._frame_s(hp), padded * self._frame_s(hp)
