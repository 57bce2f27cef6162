"""Transformer hparams sets with Tensor2Tensor's values.

transformer_base follows T2T's transformer_base_v3: pre-layer-norm ("n"), dropout then
residual ("da"), and the schedule constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size
with constant 2.0 and 8000 warmup steps, which peaks at 2/sqrt(8000)/sqrt(512) ~ 9.9e-4.
"""
from t2t_lite import registry
from t2t_lite.hparams.common_hparams import basic_params1


@registry.register_hparams
def transformer_base():
  hp = basic_params1()
  hp.hidden_size = 512
  hp.batch_size = 4096
  hp.max_length = 256
  hp.clip_grad_norm = 0.0  # no gradient clipping
  hp.optimizer_adam_epsilon = 1e-9
  hp.optimizer_adam_beta1 = 0.9
  hp.optimizer_adam_beta2 = 0.997
  hp.learning_rate_schedule = "constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size"
  hp.learning_rate_constant = 2.0
  hp.learning_rate_warmup_steps = 8000
  hp.initializer = "uniform_unit_scaling"
  hp.initializer_gain = 1.0
  hp.num_hidden_layers = 6
  hp.label_smoothing = 0.1
  hp.shared_embedding_and_softmax_weights = True
  hp.symbol_modality_num_shards = 16
  hp.layer_prepostprocess_dropout = 0.1
  hp.add_hparam("filter_size", 2048)
  # 0 means num_hidden_layers.
  hp.add_hparam("num_encoder_layers", 0)
  hp.add_hparam("num_decoder_layers", 0)
  hp.add_hparam("num_heads", 8)
  hp.add_hparam("attention_dropout", 0.1)
  hp.add_hparam("relu_dropout", 0.1)
  hp.add_hparam("pos", "timing")  # "timing" (sinusoids) or "none"
  return hp


@registry.register_hparams
def transformer_big():
  hp = transformer_base()
  hp.hidden_size = 1024
  hp.filter_size = 4096
  # T2T halved the batch so the model fits a 12 GB GPU.
  hp.batch_size = 2048
  hp.num_heads = 16
  hp.layer_prepostprocess_dropout = 0.3
  return hp


@registry.register_hparams
def transformer_base_single_gpu():
  hp = transformer_base()
  hp.batch_size = 1024
  hp.learning_rate_schedule = "constant*linear_warmup*rsqrt_decay"
  hp.learning_rate_constant = 0.1
  hp.learning_rate_warmup_steps = 16000
  return hp


@registry.register_hparams
def transformer_small():
  hp = transformer_base()
  hp.num_hidden_layers = 2
  hp.hidden_size = 256
  hp.filter_size = 1024
  hp.num_heads = 4
  return hp


@registry.register_hparams
def transformer_tiny():
  hp = transformer_base()
  hp.num_hidden_layers = 2
  hp.hidden_size = 128
  hp.filter_size = 512
  hp.num_heads = 4
  return hp


@registry.register_ranged_hparams
def transformer_base_range(rhp):
  """Tensor2Tensor's random-search ranges for transformer_base (t2t-sweep's [random])."""
  rhp.set_float("learning_rate_constant", 0.3, 3.0, scale=rhp.LOG_SCALE)
  rhp.set_discrete("learning_rate_warmup_steps", [1000, 2000, 4000, 8000, 16000])
  rhp.set_float("initializer_gain", 0.5, 2.0)
  rhp.set_float("optimizer_adam_beta1", 0.85, 0.95)
  rhp.set_float("optimizer_adam_beta2", 0.97, 0.99)
