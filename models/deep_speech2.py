"""DeepSpeech2 (Amodei et al., 2016): audio features -> characters with CTC.

features [b, t, f] -> 2-D convolutions over (time, frequency) with striding, each
batch-normalized and clipped at 20 -> [b, t', f' * channels] -> N bidirectional GRU
layers (their inputs batch- or layer-normalized) -> a fully connected layer to the
vocabulary, whose id 0 (padding, never a label) is the CTC blank -> CTC loss.

The convolutions pad (kernel - 1) frames and bins, so each divides the sequence length by
its time stride, rounding up; the CTC loss and decoding see those reduced lengths. Padding frames
are zeroed after each convolution and masked in the GRUs and batch-norm statistics.

The streaming variant (the paper's deployed model; hparams deep_speech2_streaming*) pads
its convolutions only on the past side (causal framing: a frame's output needs no later
input), runs unidirectional GRUs, and adds the lookahead convolution over
`lookahead_frames` future frames of the last GRU. `stream` then transcribes an utterance
chunk by chunk, carrying each layer's state, with exactly the outputs of `call` on the
whole utterance.
"""
import keras
import numpy as np
import tensorflow as tf

from t2t_lite import options, registry, speech_metrics
from t2t_lite.capabilities import BenchmarkShape, BenchmarkShapes, CTCFrames, Streaming
from t2t_lite.data import audio
from t2t_lite.decoding import ctc
from t2t_lite.errors import UserError
from t2t_lite.layers import common, kernels, recurrent
from t2t_lite.layers.conv import LookaheadConvolution, conv2d_valid
from t2t_lite.layers.dropout import DEFAULT_BITS, DEFAULT_KERNEL, Dropout, DropoutHParams
from t2t_lite.layers.normalization import GlobalBatchNormalization
from t2t_lite.options import setting
from t2t_lite.t2t_model import T2TModel, track_list


def reduced_lengths(lengths, strides):
  for stride in strides:
    lengths = (lengths + stride - 1) // stride
  return lengths


class ConvBlock(keras.layers.Layer):
  """Conv2D (no bias) -> batch norm -> ReLU clipped at relu_clip."""

  def __init__(self, filters, kernel, strides, relu_clip, init, causal=False, **kwargs):
    super().__init__(**kwargs)
    self.stride, self.time_kernel = strides[0], kernel[0]
    # Fixed padding of (kernel - 1) split evenly, as "same" gives for stride 1: unlike
    # TensorFlow's "same" for strides > 1, the frames a convolution sees do not shift
    # with the padded length of the batch. Causal: all of it before the first frame, so
    # an output frame depends on no later input frame.
    time = [kernel[0] - 1, 0] if causal else [(kernel[0] - 1) // 2, kernel[0] // 2]
    self.freq_padding = [(kernel[1] - 1) // 2, kernel[1] // 2]
    self.padding = [[0, 0], time, self.freq_padding, [0, 0]]
    self.conv = keras.layers.Conv2D(filters, kernel, strides=strides, padding="valid",
                                    use_bias=False, kernel_initializer=common.fresh(init))
    self.norm = GlobalBatchNormalization()
    self.relu = keras.layers.ReLU(max_value=relu_clip)

  def build(self, *shapes, **kw):
    self.built = True

  def _convolve(self, x, implementation, training):
    """The convolution of already padded x, then batch norm and the clipped ReLU."""
    if not self.conv.built:
      self.conv.build(x.shape)
    kernel = tf.cast(self.conv.kernel, x.dtype)
    if kernels.resolve(implementation, x) == "hoisted":
      # The Keras layer owns the kernel; the convolution runs with a filter gradient that
      # is ~3.5x faster on CPU (layers/conv.py).
      x = conv2d_valid(x, kernel, self.conv.strides)
    else:
      x = tf.nn.conv2d(x, kernel, [1, *self.conv.strides, 1], "VALID")
    return self.relu(self.norm(x, training=training))

  def call(self, x, lengths, training=False, implementation="hoisted"):
    """x [b, t, f, c], lengths [b] already reduced by this block's stride."""
    x = self._convolve(tf.pad(x, self.padding), implementation, training)
    mask = tf.sequence_mask(lengths, tf.shape(x)[1])
    return x * tf.cast(mask, x.dtype)[:, :, None, None]

  def initial_pending(self, batch, bins, channels):
    """A stream's first pending frames: the causal padding [b, kernel - 1, bins, c]."""
    return tf.zeros([batch, self.time_kernel - 1, bins, channels])

  def stream(self, x, pending, implementation="hoisted"):
    """Causal blocks only: the outputs that input frames `x` [b, n, f, c] complete, given
    the frames still `pending` from earlier chunks. Returns (outputs, new pending).

    Output j reads padded input frames j * stride .. j * stride + kernel - 1, so `pending`
    always starts at the next output's first frame."""
    frames = tf.concat([pending, x], axis=1)
    count = tf.maximum((tf.shape(frames)[1] - self.time_kernel) // self.stride + 1, 0)
    short = tf.maximum(self.time_kernel - tf.shape(frames)[1], 0)  # too few for any output
    padded = tf.pad(frames, [[0, 0], [0, short], self.freq_padding, [0, 0]])
    outputs = self._convolve(padded, implementation, training=False)[:, :count]
    return outputs, frames[:, count * self.stride:]


class RecurrentBlock(keras.layers.Layer):
  """norm(x) -> bidirectional (or left-to-right) GRU -> dropout."""

  def __init__(self, hidden_size, norm, dropout, init, bidirectional=True,
               dropout_bits=DEFAULT_BITS, dropout_kernel=DEFAULT_KERNEL, **kwargs):
    super().__init__(**kwargs)
    self.norm = {"batch": GlobalBatchNormalization(),
                 "layer": keras.layers.LayerNormalization(),
                 "none": None}[norm]
    self.bidirectional = bidirectional
    gru = keras.layers.GRU(hidden_size, return_sequences=True,
                           kernel_initializer=common.fresh(init))
    self.rnn = keras.layers.Bidirectional(gru) if bidirectional else gru
    recurrent.check_supported(self.rnn.forward_layer if bidirectional else self.rnn)
    self.dropout = Dropout(dropout, dropout_bits, dropout_kernel)

  def build(self, *shapes, **kw):
    self.built = True

  def _normalized(self, x, frame_mask, training):
    if isinstance(self.norm, GlobalBatchNormalization):
      return self.norm(x, training=training, mask=frame_mask)
    if self.norm is not None:
      return self.norm(x)
    return x

  def call(self, x, frame_mask, training=False, implementation="hoisted"):
    x = self._normalized(x, frame_mask, training)
    if kernels.resolve(implementation, x) == "cudnn":
      # Keras' own layer: cuDNN's fused kernel on a GPU (the mask is right-padded). Its
      # outputs past a sequence's end are not zeros, as the lookahead convolution needs.
      x = self.rnn(x, mask=frame_mask) * tf.cast(frame_mask, x.dtype)[..., None]
    elif self.bidirectional:
      # The Keras layer owns the weights; the recurrence runs with its input projection
      # hoisted out of the time loop (layers/recurrent.py: ~1.5x faster on CPU).
      x = recurrent.bidirectional_gru(self.rnn, x, frame_mask)
    else:
      x = recurrent.forward_gru(self.rnn, x, frame_mask)
    return self.dropout(x, training=training)

  def stream(self, x, state):
    """Left-to-right blocks only: (outputs [b, n, units], state [b, units]) of the frames
    x [b, n, d] that follow those which left `state`."""
    mask = tf.ones(tf.shape(x)[:2], tf.bool)
    return recurrent.gru_sequence(self.rnn, self._normalized(x, mask, False), mask,
                                  initial_state=state, return_state=True)


@options.hparams_group("deep_speech2")
class DeepSpeech2HParams(options.HParamsGroup):
  """DeepSpeech2's own hparams (deep_speech2_base's values: the benchmark reference's
  shape, see hparams/deep_speech2_hparams.py)."""
  conv_filters: list = setting([32, 32], "filters of each convolution")
  conv_time_kernels: list = setting([11, 11], "each convolution's kernel width in frames")
  conv_freq_kernels: list = setting([41, 21], "each convolution's kernel height in bins")
  conv_time_strides: list = setting([2, 1], "each convolution's stride in frames")
  conv_freq_strides: list = setting([2, 2], "each convolution's stride in bins")
  relu_clip: float = setting(20.0, "ReLU clipped at this value", above=0)
  num_rnn_layers: int = setting(3, "bidirectional GRU layers", minimum=1)
  rnn_hidden_size: int = setting(256, "units of each GRU direction", minimum=1)
  rnn_norm: str = setting("none", "normalization of each GRU's input",
                          choices=("batch", "layer", "none"))
  rnn_dropout: float = setting(0.0, "dropout after each GRU layer", minimum=0, below=1)
  rnn_bidirectional: bool = setting(True, "bidirectional GRUs (false: left to right, as a "
                                    "streaming model needs)")
  conv_causal: bool = setting(False, "convolutions pad only before the first frame, so no "
                              "output depends on a later input frame (streaming)")
  lookahead_frames: int = setting(0, "the lookahead convolution after the last GRU mixes "
                                  "in this many future frames (of the GRUs' rate; 0: no "
                                  "such layer)", minimum=0)
  kernels: str = setting("auto", "GRU and convolution kernels: auto (by the replica's "
                         "device: cudnn on a GPU, hoisted on a CPU), cudnn (Keras' GRU and "
                         "conv2d's own gradients) or hoisted (the CPU-profiled ones); same "
                         "weights either way", choices=kernels.CHOICES, eval_time=True)

  @classmethod
  def check_between(cls, hp):
    conv = [hp.conv_filters, hp.conv_time_kernels, hp.conv_freq_kernels,
            hp.conv_time_strides, hp.conv_freq_strides]
    if len({len(c) for c in conv}) != 1 or not conv[0]:
      raise UserError("hparams conv_filters, conv_time_kernels, conv_freq_kernels, "
                      "conv_time_strides and conv_freq_strides must be non-empty lists of "
                      "one length (one entry per convolution)")
    if min(min(c) for c in conv) < 1:
      raise UserError("convolution sizes and strides must be >= 1")


@registry.register_model
class DeepSpeech2(T2TModel, Streaming, CTCFrames, BenchmarkShapes):

  HPARAMS = (common.InitializerHParams, DropoutHParams, audio.AudioHParams,
             DeepSpeech2HParams)

  @classmethod
  def streams(cls, hp):
    """Whether `stream` can transcribe with these hparams (a causal, left-to-right model)."""
    return hp.conv_causal and not hp.rnn_bidirectional

  @classmethod
  def check_streaming(cls, hp):
    """Raises UserError unless a model of these hparams streams."""
    if not cls.streams(hp):
      raise UserError("streaming needs a causal, left-to-right model (hparams conv_causal="
                      "true and rnn_bidirectional=false, e.g. deep_speech2_streaming); this "
                      f"run has conv_causal={hp.conv_causal}, rnn_bidirectional="
                      f"{hp.rnn_bidirectional}")

  @classmethod
  def feature_spec(cls, hp):
    return {"inputs": tf.TensorSpec([None, audio.feature_depth(hp)], tf.float32),
            "inputs_length": tf.TensorSpec([], tf.int32),
            "targets": tf.TensorSpec([None], tf.int32)}

  def __init__(self, hparams, **kwargs):
    super().__init__(hparams, **kwargs)
    hp = hparams
    init = common.initializer(hp)
    self.time_strides = list(hp.conv_time_strides)
    self.kernels = hp.kernels
    self.convs = track_list(self, "conv", [
        ConvBlock(f, (kt, kf), (st, sf), hp.relu_clip, init, causal=hp.conv_causal,
                  name=f"conv_{i}")
        for i, (f, kt, kf, st, sf) in enumerate(zip(
            hp.conv_filters, hp.conv_time_kernels, hp.conv_freq_kernels,
            hp.conv_time_strides, hp.conv_freq_strides))])
    self.rnns = track_list(self, "rnn", [
        RecurrentBlock(hp.rnn_hidden_size, hp.rnn_norm, hp.rnn_dropout, init,
                       bidirectional=hp.rnn_bidirectional, dropout_bits=hp.dropout_bits,
                       dropout_kernel=hp.dropout_kernel,
                       name=f"rnn_{i}")
        for i in range(hp.num_rnn_layers)])
    self.lookahead = (LookaheadConvolution(hp.lookahead_frames, name="lookahead")
                      if hp.lookahead_frames else None)
    self.output_layer = keras.layers.Dense(hp.target_vocab_size,
                                           kernel_initializer=common.fresh(init))

  @classmethod
  def output_frame_stride(cls, hp):
    return int(np.prod(hp.conv_time_strides))

  def output_lengths(self, input_lengths):
    return reduced_lengths(input_lengths, self.time_strides)

  def call(self, features, training=False):
    """features {"inputs": [b, t, f], "inputs_length": [b]} -> logits [b, t', vocab]."""
    lengths = features["inputs_length"]
    x = features["inputs"]
    x = (x * tf.cast(tf.sequence_mask(lengths, tf.shape(x)[1]), x.dtype)[..., None])[..., None]
    for conv in self.convs:
      lengths = reduced_lengths(lengths, [conv.stride])
      x = conv(x, lengths, training=training, implementation=self.kernels)
    shape = tf.shape(x)
    x = tf.reshape(x, [shape[0], shape[1], x.shape[2] * x.shape[3]])
    mask = tf.sequence_mask(lengths, shape[1])
    for rnn in self.rnns:
      x = rnn(x, mask, training=training, implementation=self.kernels)
    if self.lookahead is not None:
      x = self.lookahead(x)
    return self.output_layer(x)

  # -- streaming ----------------------------------------------------------------------------
  def initial_stream_state(self, batch=1):
    """The state of a stream before its first chunk: {name: tensor} (see `stream`)."""
    self.check_streaming(self.hparams)
    state, bins, channels = {}, audio.feature_depth(self.hparams), 1
    for i, conv in enumerate(self.convs):
      state[f"conv_{i}"] = conv.initial_pending(batch, bins, channels)
      bins, channels = -(-bins // conv.conv.strides[1]), conv.conv.filters
    for i in range(len(self.rnns)):
      state[f"rnn_{i}"] = tf.zeros([batch, self.hparams.rnn_hidden_size])
    if self.lookahead is not None:
      state["lookahead"] = tf.zeros([batch, 0, self.hparams.rnn_hidden_size])
    return state

  def stream(self, inputs, state, final):
    """The logits [b, n', vocab] that feature frames `inputs` [b, n, f] (the next frames
    of b streams) complete, and the new state. `final` (a bool scalar) marks a stream's
    last chunk, which flushes the frames held back for the lookahead convolution.

    The concatenated logits of any chunking equal `call`'s on the whole utterance: the
    convolutions are causal, the GRUs left to right, and the lookahead convolution emits a
    frame once its future frames (or the end) have arrived."""
    new_state = {}
    x = tf.cast(inputs, self.compute_dtype)[..., None]
    for i, conv in enumerate(self.convs):
      x, new_state[f"conv_{i}"] = conv.stream(x, state[f"conv_{i}"], self.kernels)
    shape = tf.shape(x)
    x = tf.reshape(x, [shape[0], shape[1], x.shape[2] * x.shape[3]])
    for i, rnn in enumerate(self.rnns):
      x, new_state[f"rnn_{i}"] = rnn.stream(x, state[f"rnn_{i}"])
    if self.lookahead is not None:
      future = self.lookahead.future
      held = tf.concat([state["lookahead"], x], axis=1)
      ready = tf.where(final, tf.shape(held)[1], tf.maximum(tf.shape(held)[1] - future, 0))
      padded = tf.pad(held, [[0, 0], [0, future], [0, 0]])  # zeros past the end, if final
      x = self.lookahead.mix(padded[:, :ready + future])
      new_state["lookahead"] = held[:, ready:]
    return self.output_layer(x), new_state

  # -- loss and metrics ---------------------------------------------------------------------
  def _ctc_loss(self, logits, features):
    """(per-example CTC loss, label lengths), both zero for an utterance too short for its
    transcript (after striding) to be aligned at all, so it neither trains nor fails."""
    targets = features["targets"]
    logit_lengths = self.output_lengths(features["inputs_length"])
    label_lengths = tf.reduce_sum(tf.cast(tf.not_equal(targets, 0), tf.int32), axis=1)
    repeats = tf.reduce_sum(tf.cast(
        tf.equal(targets[:, 1:], targets[:, :-1]) & tf.not_equal(targets[:, 1:], 0), tf.int32),
        axis=1)
    feasible = logit_lengths >= label_lengths + repeats
    label_lengths = tf.where(feasible, label_lengths, 0)
    labels = tf.where(feasible[:, None], targets, 0)
    loss = tf.nn.ctc_loss(labels, tf.cast(logits, tf.float32), label_lengths, logit_lengths,
                          logits_time_major=False, blank_index=0)
    return loss * tf.cast(feasible, tf.float32), label_lengths

  def loss_sums(self, logits, features):
    """(CTC loss summed over the batch, the number of target tokens): the trainer divides
    them, so the loss is per transcript token, independent of the replica split."""
    loss, label_lengths = self._ctc_loss(logits, features)
    return tf.reduce_sum(loss), tf.cast(tf.reduce_sum(label_lengths), tf.float32)

  def eval_metric_sums(self, features, detokenize=None):
    logits = self(features, training=False)
    loss, label_lengths = self._ctc_loss(logits, features)
    sums = {"ctc_loss": tf.reduce_sum(loss),
            "tokens": tf.cast(tf.reduce_sum(label_lengths), tf.float32),
            "sequences": tf.cast(tf.shape(logits)[0], tf.float32)}
    if detokenize is not None:
      hypotheses = ctc.greedy(logits, self.output_lengths(features["inputs_length"]))
      sums.update(speech_metrics.text_error_sums(detokenize(hypotheses),
                                                 detokenize(features["targets"])))
    return sums

  # -- decoding -----------------------------------------------------------------------------
  def dummy_features(self, has_inputs=True):
    depth = audio.feature_depth(self.hparams)
    return {"inputs": tf.zeros([1, 8, depth]), "inputs_length": tf.constant([8]),
            "targets": tf.ones([1, 1], tf.int32)}

  def transcribe(self, inputs, inputs_length, beam_size=1):
    """Features [b, t, f] and their lengths [b] -> transcript ids [b, l] (0-padded)."""
    return self._ctc_decode(inputs, inputs_length, beam_size)[0]

  def frame_log_probs(self, features):
    logits = self({"inputs": features["inputs"], "inputs_length": features["inputs_length"]},
                  training=False)
    return (tf.nn.log_softmax(tf.cast(logits, tf.float32)),
            self.output_lengths(features["inputs_length"]))

  def _ctc_decode(self, inputs, inputs_length, beam_size):
    logits = self({"inputs": inputs, "inputs_length": inputs_length}, training=False)
    return ctc.decode_with_scores(logits, self.output_lengths(inputs_length), beam_size)

  @classmethod
  def decode_feature_spec(cls, hp):
    return {"inputs": tf.TensorSpec([None, audio.feature_depth(hp)], tf.float32),
            "inputs_length": tf.TensorSpec([], tf.int32)}

  def predict(self, features, search_settings):
    """CTC greedy (beam_size 1) or prefix beam search: (ids, log-probability of the best
    path)."""
    return self._ctc_decode(features["inputs"], features["inputs_length"],
                            search_settings.beam_size)

  # -- measurement (t2t-benchmark) ----------------------------------------------------------
  THROUGHPUT_UNIT = "audio_seconds"
  DECODES_TO_LENGTH = False  # CTC emits at most one symbol per frame of its input
  DECODE_THROUGHPUT_KEY = "decode_audio_s_per_s"

  @classmethod
  def describe_search(cls, search_settings):
    beam = search_settings.beam_size
    return f"CTC beam search, beam {beam}" if beam > 1 else "CTC greedy"

  @classmethod
  def benchmark_shape(cls, smoke=False):
    if smoke:
      return BenchmarkShape(batch=2, src_len=48, tgt_len=6, vocab_size=30, decode_src_len=48)
    return BenchmarkShape(batch=16, src_len=400, tgt_len=40, vocab_size=30,
                          decode_src_len=400)

  @classmethod
  def set_benchmark_vocab(cls, hp, vocab_size):
    hp.target_vocab_size = vocab_size

  @classmethod
  def benchmark_decode_features(cls, hp, batch, src_len, seed=4321):
    """Random log-mel features of src_len frames."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((batch, src_len, audio.feature_depth(hp)), dtype=np.float32)
    return {"inputs": tf.constant(features), "inputs_length": tf.fill([batch], src_len)}

  @classmethod
  def benchmark_features(cls, hp, shape, seed=1234):
    features = cls.benchmark_decode_features(hp, shape.batch, shape.src_len, seed)
    rng = np.random.default_rng(seed + 1)
    targets = rng.integers(2, hp.target_vocab_size, (shape.batch, shape.tgt_len))
    return dict(features, targets=tf.constant(targets, tf.int32))

  @classmethod
  def throughput_units(cls, hp, batch, src_len, tgt_len):
    """Seconds of audio."""
    return batch * src_len * hp.audio_frame_step_ms / 1000.0

  @classmethod
  def batch_units(cls, hp, features):
    """Seconds of audio: each utterance's inputs_length frames, padded to the batch's
    longest in total."""
    frame_s = hp.audio_frame_step_ms / 1000.0
    frames = int(features["inputs_length"].numpy().sum())
    padded = int(features["inputs"].shape[0] * features["inputs"].shape[1])
    return frames * frame_s, padded * frame_s

  @classmethod
  def train_flops(cls, hp, shape):
    """3 x forward: the convolutions (each pads kernel - 1, so its output has
    ceil(length / stride) frames and bins), the GRUs (3 gates, input and recurrent
    matmuls, per direction), the lookahead convolution and the output layer, as
    shared/bench/common.py counts them."""
    batch, t, f, channels = shape.batch, shape.src_len, audio.feature_depth(hp), 1
    conv = 0
    for filters, kt, kf, st, sf in zip(hp.conv_filters, hp.conv_time_kernels,
                                       hp.conv_freq_kernels, hp.conv_time_strides,
                                       hp.conv_freq_strides):
      t, f = -(-t // st), -(-f // sf)
      conv += 2 * batch * t * f * filters * kt * kf * channels
      channels = filters
    h, n_in, gru = hp.rnn_hidden_size, channels * f, 0
    directions = 2 if hp.rnn_bidirectional else 1
    for _ in range(hp.num_rnn_layers):
      gru += directions * 2 * batch * t * 3 * (n_in * h + h * h)
      n_in = directions * h
    lookahead = 2 * batch * t * n_in * (hp.lookahead_frames + 1) if hp.lookahead_frames else 0
    dense = 2 * batch * t * n_in * hp.target_vocab_size
    return 3 * (conv + gru + lookahead + dense)
