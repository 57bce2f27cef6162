"""Transformer (Vaswani et al., 2017) with Tensor2Tensor's semantics.

Inputs and targets share one embedding table, which is also the softmax weight matrix;
embeddings are scaled by sqrt(hidden_size) and added to sinusoidal timing signals.
Each sublayer is layer_norm -> sublayer -> dropout -> residual add ("n" / "da"), and each
stack ends with a layer norm. Decoding caches the keys and values of every decoder layer.
"""
import keras
import numpy as np
import tensorflow as tf

from t2t_lite import options, registry, t2t_model
from t2t_lite.capabilities import BenchmarkShapes, CTranslate2Export, IncrementalDecoding
from t2t_lite.errors import UserError
from t2t_lite.layers import common
from t2t_lite.layers.attention import MultiHeadAttention
from t2t_lite.layers.dropout import Dropout, DropoutHParams
from t2t_lite.layers.ffn import DenseReluDense
from t2t_lite.layers.modality import ModalityHParams, SharedEmbedding
from t2t_lite.layers.normalization import LayerNormalization
from t2t_lite.options import setting
from t2t_lite.t2t_model import T2TModel, track_list


class ResidualSublayer(keras.layers.Layer):
  """x + dropout(fn(layer_norm(x)))."""

  def __init__(self, fn, hparams, **kwargs):
    super().__init__(**kwargs)
    self.fn = fn
    self.norm = LayerNormalization(epsilon=hparams.norm_epsilon)
    self.dropout = Dropout(hparams.layer_prepostprocess_dropout, hparams.dropout_bits,
                           hparams.dropout_kernel)

  def build(self, *shapes, **kw):
    self.built = True  # children build on their first call

  def call(self, x, training=False, **kwargs):
    y = self.fn(self.norm(x), training=training, **kwargs)
    if isinstance(y, tuple):  # attention with a decoding cache: (output, new cache)
      y, cache = y
      return x + self.dropout(y, training=training), cache
    return x + self.dropout(y, training=training)


def attention_block(hparams, self_attention, name):
  init = common.initializer(hparams)
  return ResidualSublayer(MultiHeadAttention(
      hparams.hidden_size, hparams.num_heads, hparams.attention_dropout, init,
      self_attention=self_attention, dropout_bits=hparams.dropout_bits,
      dropout_kernel=hparams.dropout_kernel, name=name), hparams,
      name=f"{name}_block")


def ffn_block(hparams):
  init = common.initializer(hparams)
  return ResidualSublayer(DenseReluDense(hparams.filter_size, hparams.hidden_size,
                                         hparams.relu_dropout, init,
                                         dropout_bits=hparams.dropout_bits,
                                         dropout_kernel=hparams.dropout_kernel, name="ffn"),
                          hparams, name="ffn_block")


class EncoderLayer(keras.layers.Layer):

  def __init__(self, hparams, **kwargs):
    super().__init__(**kwargs)
    self.self_attention = attention_block(hparams, True, "self_attention")
    self.ffn = ffn_block(hparams)

  def build(self, *shapes, **kw):
    self.built = True

  def call(self, x, bias, training=False):
    x = self.self_attention(x, bias=bias, training=training)
    return self.ffn(x, training=training)


class DecoderLayer(keras.layers.Layer):
  """Self-attention, attention over the encoder output (unless decoder-only), FFN."""

  def __init__(self, hparams, with_encdec=True, **kwargs):
    super().__init__(**kwargs)
    self.self_attention = attention_block(hparams, True, "self_attention")
    self.encdec_attention = (attention_block(hparams, False, "encdec_attention")
                             if with_encdec else None)
    self.ffn = ffn_block(hparams)

  def build(self, *shapes, **kw):
    self.built = True

  def call(self, x, memory, self_bias, memory_bias, training=False, cache=None):
    """With a decoding cache, returns (output, updated self-attention cache)."""
    if cache is None:
      x = self.self_attention(x, bias=self_bias, training=training)
      if self.encdec_attention is not None:
        x = self.encdec_attention(x, memory=memory, bias=memory_bias, training=training)
      return self.ffn(x, training=training)
    x, self_cache = self.self_attention(x, bias=self_bias, cache=cache["self"])
    if self.encdec_attention is not None:
      x, _ = self.encdec_attention(x, bias=memory_bias, cache=cache["encdec"])
    return self.ffn(x), self_cache


@options.hparams_group("transformer")
class TransformerHParams(options.HParamsGroup):
  """The Transformer's own hparams (T2T's transformer_base values); it also reads the
  model's hidden_size, num_hidden_layers, layer_prepostprocess_dropout and norm_epsilon."""
  filter_size: int = setting(2048, "width of the feed-forward layers", minimum=1)
  num_encoder_layers: int = setting(0, "encoder layers (0: num_hidden_layers)", minimum=0)
  num_decoder_layers: int = setting(0, "decoder layers (0: num_hidden_layers)", minimum=0)
  num_heads: int = setting(8, "attention heads (must divide hidden_size)", minimum=1)
  attention_dropout: float = setting(0.1, "dropout of attention weights", minimum=0, below=1)
  relu_dropout: float = setting(0.1, "dropout inside the feed-forward layers", minimum=0,
                                below=1)
  pos: str = setting("timing", "position signal: sinusoids, or none",
                     choices=("timing", "none"))

  @classmethod
  def check_between(cls, hp):
    if hp.hidden_size % hp.num_heads:
      raise UserError(f"hidden_size={hp.hidden_size} must be divisible by "
                      f"num_heads={hp.num_heads}")
    if (hp.shared_embedding_and_softmax_weights and hp.input_vocab_size and
        hp.input_vocab_size != hp.target_vocab_size):
      raise UserError("transformer shares one embedding between inputs and targets, but the "
                      f"problem's vocabularies differ ({hp.input_vocab_size} vs "
                      f"{hp.target_vocab_size}); use a shared vocabulary")


@registry.register_model
class Transformer(T2TModel, IncrementalDecoding, CTranslate2Export, BenchmarkShapes):
  """Encoder-decoder; decoder-only (a language model) when the problem has no inputs
  (hparams.has_inputs=False). Packed batches (features with *_segmentation/*_position)
  keep attention within each example."""

  HPARAMS = (common.InitializerHParams, DropoutHParams, ModalityHParams, TransformerHParams)

  def __init__(self, hparams, **kwargs):
    super().__init__(hparams, **kwargs)
    hp = hparams
    sqrt_depth = hp.multiply_embedding_mode == "sqrt_depth"
    if hp.shared_embedding_and_softmax_weights:
      # One table for inputs, targets and the softmax (T2T's symbol_modality).
      self.embedding = SharedEmbedding(hp.target_vocab_size, hp.hidden_size,
                                       hp.symbol_modality_num_shards, sqrt_depth,
                                       placement=hp.embedding_placement,
                                       name="symbol_modality")
      self.input_embedding = self.target_embedding = self.softmax = None
    else:
      self.embedding = None
      self.input_embedding = SharedEmbedding(hp.input_vocab_size, hp.hidden_size,
                                             hp.symbol_modality_num_shards, sqrt_depth,
                                             placement=hp.embedding_placement,
                                             name="input_modality")
      self.target_embedding = SharedEmbedding(hp.target_vocab_size, hp.hidden_size,
                                              hp.symbol_modality_num_shards, sqrt_depth,
                                              placement=hp.embedding_placement,
                                              name="target_modality")
      self.softmax = SharedEmbedding(hp.target_vocab_size, hp.hidden_size,
                                     hp.symbol_modality_num_shards,
                                     placement=hp.embedding_placement, name="softmax")
    self.input_dropout = Dropout(hp.layer_prepostprocess_dropout, hp.dropout_bits,
                                 hp.dropout_kernel)
    # Layers are attributes, not list items: Keras 3 keeps lists out of TF checkpoints.
    self.encoder_layers = track_list(self, "encoder_layer", [
        EncoderLayer(hp, name=f"encoder_layer_{i}")
        for i in range(hp.num_encoder_layers or hp.num_hidden_layers)] if hp.has_inputs
        else [])
    self.decoder_layers = track_list(self, "decoder_layer", [
        DecoderLayer(hp, with_encdec=hp.has_inputs, name=f"decoder_layer_{i}")
        for i in range(hp.num_decoder_layers or hp.num_hidden_layers)])
    self.encoder_norm = (LayerNormalization(epsilon=hp.norm_epsilon)
                         if hp.has_inputs else None)
    self.decoder_norm = LayerNormalization(epsilon=hp.norm_epsilon)

  def _add_timing(self, x, positions=None):
    """Adds the position signal: of positions 0.., or of explicit `positions` [b, t]
    (packed rows, where each example's positions restart at 0)."""
    if self.hparams.pos == "timing":
      if positions is None:
        signal = common.timing_signal(tf.shape(x)[1], self.hparams.hidden_size)
      else:
        signal = common.timing_signal_at(positions, self.hparams.hidden_size)
      x += tf.cast(signal, x.dtype)
    return x

  def encode(self, inputs, training=False, segmentation=None, position=None):
    """inputs [b, s] -> (encoder output [b, s, d], attention bias hiding padding and, in
    packed rows, other examples)."""
    if segmentation is None:
      bias = common.padding_bias(inputs)
    else:
      bias = common.segment_bias(segmentation, segmentation)
    x = self._embed_inputs(inputs)
    x = self.input_dropout(self._add_timing(x, positions=position), training=training)
    for layer in self.encoder_layers:
      x = layer(x, bias, training=training)
    return self.encoder_norm(x), bias

  def decode(self, decoder_input_ids, memory, memory_bias, training=False, self_bias=None,
             position=None):
    """Teacher-forced decoder: shifted targets [b, t] -> its last layer's normalized
    output [b, t, hidden] (the softmax's input)."""
    x = self._embed_targets(decoder_input_ids)
    x = self.input_dropout(self._add_timing(x, positions=position), training=training)
    if self_bias is None:
      self_bias = common.causal_bias(tf.shape(decoder_input_ids)[1])
    for layer in self.decoder_layers:
      x = layer(x, memory, self_bias, memory_bias, training=training)
    return self.decoder_norm(x)

  def _embed_inputs(self, ids):
    return (self.embedding or self.input_embedding).embed(ids)

  def _embed_targets(self, ids, table=None):
    return (self.embedding or self.target_embedding).embed(ids, table)

  def _logits(self, x, kernel=None):
    return (self.embedding or self.softmax).logits(x, kernel)

  def call(self, features, training=False, softmax_input=False):
    """Features -> logits; with softmax_input, the decoder output they are computed from
    (through Keras' __call__ either way, so mixed precision casts the same)."""
    x = self._decoder_output(features, training)
    return x if softmax_input else self._logits(x)

  def training_loss_sums(self, features):
    # The softmax and its loss in one piece (SharedEmbedding.loss_sums): the same loss.
    return (self.embedding or self.softmax).loss_sums(
        self(features, training=True, softmax_input=True), features["targets"],
        self.hparams.label_smoothing)

  def _decoder_output(self, features, training):
    targets = features["targets"]
    target_segments = features.get("targets_segmentation")
    memory = memory_bias = self_bias = None
    decoder_input = common.shift_right(targets)
    if target_segments is not None:
      # Each packed example starts from the start symbol and sees only itself.
      position = features["targets_position"]
      decoder_input = tf.where(tf.equal(position, 0), 0, decoder_input)
      self_bias = (common.causal_bias(tf.shape(targets)[1]) +
                   common.segment_bias(target_segments, target_segments))
    if self.hparams.has_inputs:
      input_segments = features.get("inputs_segmentation")
      memory, memory_bias = self.encode(features["inputs"], training=training,
                                        segmentation=input_segments,
                                        position=features.get("inputs_position"))
      if target_segments is not None:
        memory_bias = common.segment_bias(target_segments, input_segments)
    return self.decode(decoder_input, memory, memory_bias, training=training,
                       self_bias=self_bias, position=features.get("targets_position"))

  def decoding_fn(self, inputs, rows_per_example, max_length, use_cache=True,
                  batch_size=None):
    if not use_cache:
      return t2t_model.uncached_decoding_fn(self, inputs, rows_per_example, max_length)
    hp = self.hparams
    heads, depth = hp.num_heads, hp.hidden_size // hp.num_heads
    encdec = [None] * len(self.decoder_layers)
    memory_bias = None
    if hp.has_inputs:
      memory, memory_bias = self.encode(inputs, training=False)
      rows = tf.shape(memory)[0] * rows_per_example
      # Encoder keys/values are fixed for the whole search: computed once per example
      # (the attention batches an example's beams against them), not carried in the loop
      # state (which beam search reorders every step).
      for i, layer in enumerate(self.decoder_layers):
        k, v = layer.encdec_attention.fn.memory_kv(memory)
        encdec[i] = {"memory_k": k, "memory_v": v}
    else:
      rows = batch_size * rows_per_example
    # The cache holds keys/values as the layers compute them (16-bit in mixed precision),
    # one position more each step (attention.py).
    zeros = tf.zeros([rows, heads, 0, depth], self.compute_dtype)
    state = {f"layer_{i}": {"k": zeros, "v": zeros}
             for i in range(len(self.decoder_layers))}
    # Computed once per search, not at every step: the embedding and softmax tables
    # (concatenated from their shards) and the position signals.
    target_table = (self.embedding or self.target_embedding).table()
    softmax_kernel = tf.cast((self.embedding or self.softmax).softmax_kernel(
        target_table if self.embedding else None), self.compute_dtype)
    signal = (common.timing_signal(max_length, hp.hidden_size) if hp.pos == "timing"
              else None)

    def symbols_to_logits_fn(seq, step, state):
      ids = seq[:, step][:, None]  # the symbol chosen at the previous step
      x = self._embed_targets(ids, target_table)
      if signal is not None:
        x += tf.cast(signal[:, step][:, None], x.dtype)
      new_state = {}
      for i, layer in enumerate(self.decoder_layers):
        cache = {"self": state[f"layer_{i}"], "encdec": encdec[i]}
        # The cache holds only earlier positions: no self-attention mask is needed.
        x, new_state[f"layer_{i}"] = layer(x, None, None, memory_bias, cache=cache)
      logits = self._logits(self.decoder_norm(x), softmax_kernel)
      return logits[:, 0], new_state

    return symbols_to_logits_fn, state

  # -- serving (CTranslate2) ----------------------------------------------------------------
  def ctranslate2_spec(self, num_positions):
    """The same network in CTranslate2's terms: a pre-norm Transformer (TransformerSpec, or
    TransformerDecoderModelSpec without inputs) with ReLU, the stacks' final layer norms,
    this model's epsilon, no attention biases, sqrt(d)-scaled embeddings (or unscaled), and
    the decoder starting from a zero vector (Tensor2Tensor embeds its start symbol, the
    padding id 0, as zeros). Positions get Tensor2Tensor's own sinusoid table from position
    0 (CTranslate2's built-in table starts at 1). CTranslate2's linear weights are
    [out, in]: Keras kernels transposed."""
    from ctranslate2 import specs  # the optional [serve] dependency

    hp = self.hparams
    n_dec = len(self.decoder_layers)
    relu = specs.common_spec.Activation.RELU
    if hp.has_inputs:
      spec = specs.TransformerSpec.from_config((len(self.encoder_layers), n_dec),
                                               hp.num_heads, pre_norm=True, activation=relu)
      encoder, decoder = spec.encoder, spec.decoder
    else:
      spec = specs.TransformerDecoderModelSpec.from_config(n_dec, hp.num_heads,
                                                           pre_norm=True, activation=relu)
      encoder, decoder = None, spec.decoder
    spec.config.layer_norm_epsilon = hp.norm_epsilon
    if hp.pos == "timing":
      positions = common.timing_signal(num_positions, hp.hidden_size)[0].numpy()
    else:  # CTranslate2 always adds a table: a zero one adds nothing
      positions = np.zeros([num_positions, hp.hidden_size], np.float32)
    scale = hp.multiply_embedding_mode == "sqrt_depth"
    target_table = _numpy((self.embedding or self.target_embedding).table())
    decoder.embeddings.weight = target_table
    decoder.scale_embeddings = scale
    decoder.start_from_zero_embedding = True
    decoder.position_encodings.encodings = positions
    for layer_spec, layer in zip(decoder.layer, self.decoder_layers):
      _set_attention(layer_spec.self_attention, layer.self_attention)
      if encoder is not None:
        _set_attention(layer_spec.attention, layer.encdec_attention)
      _set_ffn(layer_spec.ffn, layer.ffn)
    _set_norm(decoder.layer_norm, self.decoder_norm)
    # The softmax weights: the shared table itself (CTranslate2 aliases equal weights).
    decoder.projection.weight = (target_table if self.embedding is not None
                                 else _numpy(self.softmax.table()))
    if encoder is not None:
      encoder.embeddings[0].weight = (target_table if self.embedding is not None
                                      else _numpy(self.input_embedding.table()))
      encoder.scale_embeddings = scale
      encoder.position_encodings.encodings = positions
      for layer_spec, layer in zip(encoder.layer, self.encoder_layers):
        _set_attention(layer_spec.self_attention, layer.self_attention)
        _set_ffn(layer_spec.ffn, layer.ffn)
      _set_norm(encoder.layer_norm, self.encoder_norm)
    return spec

  # -- measurement (t2t-benchmark) ----------------------------------------------------------
  @classmethod
  def train_flops(cls, hp, shape):
    """3 x forward, 2 FLOPs per multiply-add, counted as the reference scripts count them
    (shared/bench/common.py): dense layers, attention scores and sums over the full
    square, the tied softmax. Embedding lookups, normalization and elementwise ops and
    the optimizer are not counted."""
    batch, src_len, tgt_len = shape.batch, shape.src_len, shape.tgt_len
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


def _numpy(tensor):
  """A weight as a contiguous float32 array (variables are float32 under every policy)."""
  return np.ascontiguousarray(tf.cast(tensor, tf.float32).numpy())


def _set_norm(spec, norm):
  spec.gamma, spec.beta = _numpy(norm.gamma), _numpy(norm.beta)


def _set_attention(spec, block):
  """A ResidualSublayer of MultiHeadAttention: its layer norm and bias-free projections.
  Self-attention's fused q|k|v kernel is CTranslate2's fused linear_0; cross-attention's
  q is linear_0 and its fused k|v kernel linear_1 (heads are contiguous column blocks in
  both)."""
  attention = block.fn
  _set_norm(spec.layer_norm, block.norm)
  kernels = ([attention.qkv] if attention.self_attention else [attention.q, attention.kv])
  for linear, kernel in zip(spec.linear, kernels + [attention.out]):
    linear.weight = _numpy(kernel).T.copy()


def _set_ffn(spec, block):
  _set_norm(spec.layer_norm, block.norm)
  for linear, dense in ((spec.linear_0, block.fn.inner), (spec.linear_1, block.fn.outer)):
    linear.weight = _numpy(dense.kernel).T.copy()
    linear.bias = _numpy(dense.bias)
