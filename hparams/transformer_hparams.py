"""Transformer hparams sets with Tensor2Tensor's values.

transformer_base follows T2T's transformer_base_v3: pre-layer-norm ("n"), dropout then
residual ("da"), and the schedule constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size
with constant 2.0 and 8000 warmup steps, which peaks at 2/sqrt(8000)/sqrt(512) ~ 9.9e-4.
The Transformer's own hparams (filter_size, num_heads, ...) are declared, with
transformer_base's values as defaults, in models/transformer.py (TransformerHParams).
"""
from t2t_lite import registry
from t2t_lite.hparams.common_hparams import basic_params1
from t2t_lite.models.transformer import TransformerHParams


@registry.register_hparams
def transformer_base():
  return basic_params1().with_groups(TransformerHParams()).replace(
      hidden_size=512,
      max_length=256,
      clip_grad_norm=0.0,  # no gradient clipping
      optimizer_adam_epsilon=1e-9,
      optimizer_adam_beta1=0.9,
      learning_rate_schedule="constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size",
      learning_rate_constant=2.0,
      learning_rate_warmup_steps=8000,
      initializer="uniform_unit_scaling",
      initializer_gain=1.0,
      num_hidden_layers=6,
      shared_embedding_and_softmax_weights=True,
      symbol_modality_num_shards=16,
  )


@registry.register_hparams
def transformer_big():
  return transformer_base().replace(
      hidden_size=1024,
      filter_size=4096,
      batch_size=2048,  # T2T halved the batch so the model fits a 12 GB GPU.
      num_heads=16,
      layer_prepostprocess_dropout=0.3,
  )


@registry.register_hparams
def transformer_base_single_gpu():
  return transformer_base().replace(
      batch_size=1024,
      learning_rate_schedule="constant*linear_warmup*rsqrt_decay",
      learning_rate_constant=0.1,
      learning_rate_warmup_steps=16000,
  )


@registry.register_hparams
def transformer_small():
  return transformer_base().replace(num_hidden_layers=2, hidden_size=256, filter_size=1024,
                                    num_heads=4)


@registry.register_hparams
def transformer_tiny():
  return transformer_base().replace(num_hidden_layers=2, hidden_size=128, filter_size=512,
                                    num_heads=4)


@registry.register_ranged_hparams
def transformer_base_range(rhp):
  """Tensor2Tensor's random-search ranges for transformer_base (t2t-sweep's [random])."""
  rhp.set_float("learning_rate_constant", 0.3, 3.0, scale=rhp.LOG_SCALE)
  rhp.set_discrete("learning_rate_warmup_steps", [1000, 2000, 4000, 8000, 16000])
  rhp.set_float("initializer_gain", 0.5, 2.0)
  rhp.set_float("optimizer_adam_beta1", 0.85, 0.95)
  rhp.set_float("optimizer_adam_beta2", 0.97, 0.99)
