"""basic_params1: the hparams every model shares (Tensor2Tensor's names and defaults)."""
from t2t_lite import registry
from t2t_lite.hparams_lib import HParams
from t2t_lite.layers import dropout


@registry.register_hparams
def basic_params1():
  return HParams(
      # Batching. batch_size counts tokens per replica (the longer of inputs/targets per
      # example), as in Tensor2Tensor; examples longer than max_length are dropped in
      # training (max_length=0 means batch_size).
      batch_size=4096,
      max_length=0,
      min_length_bucket=8,
      length_bucket_step=1.1,
      eval_drop_long_sequences=False,
      # Model size.
      hidden_size=64,
      num_hidden_layers=2,
      # Regularization.
      layer_prepostprocess_dropout=0.1,
      # Random bits per dropout decision: 8 (rates to 1/256) or 16 (to 1/65536).
      dropout_bits=dropout.DEFAULT_BITS,
      # How dropout runs (same values either way): fused C++ op, TensorFlow ops, or auto.
      dropout_kernel=dropout.DEFAULT_KERNEL,
      label_smoothing=0.1,
      norm_epsilon=1e-6,
      # Initialization.
      initializer="orthogonal",
      initializer_gain=1.5,
      # Optimization.
      optimizer="adam",
      optimizer_adam_beta1=0.85,
      optimizer_adam_beta2=0.997,
      optimizer_adam_epsilon=1e-6,
      optimizer_adafactor_decay_rate=0.8,
      optimizer_adafactor_clipping_threshold=1.0,
      optimizer_lamb_beta1=0.9,
      optimizer_lamb_beta2=0.999,
      optimizer_lamb_epsilon=1e-6,
      optimizer_lamb_weight_decay=0.01,
      optimizer_lars_momentum=0.9,
      optimizer_lars_eta=0.001,
      optimizer_lars_weight_decay=1e-4,
      clip_grad_norm=2.0,
      # N micro-batches per update (the update of one batch N times as large).
      gradient_accumulation_steps=1,
      # Mixed precision: float32, bfloat16 or float16 compute (variables stay float32);
      # float16 uses a dynamic loss scale starting here, doubled after growth_steps
      # finite steps in a row.
      activation_dtype="float32",
      mixed_precision_optimizer_init_loss_scale=2.0 ** 15,
      mixed_precision_loss_scale_growth_steps=2000,
      learning_rate_schedule="constant*linear_warmup*rsqrt_decay",
      learning_rate_constant=1.0,
      learning_rate_warmup_steps=100,
      learning_rate_decay_steps=5000,
      # An exponential moving average of the weights (evaluated, decoded and exported in
      # their place) with this decay; 0: none.
      ema_decay=0.0,
      # Embeddings and softmax.
      shared_embedding_and_softmax_weights=False,
      symbol_modality_num_shards=1,
      # "host": the embedding shards (and their optimizer slots) in the host's CPU memory
      # rather than the accelerator's, where the strategy allows (layers/modality.py).
      embedding_placement="device",
      multiply_embedding_mode="sqrt_depth",
      # Rows of this many tokens, each packing several training examples (attention and
      # loss stay within each example); 0: one example per row, batched by length.
      packed_length=0,
      # SortaGrad: the first N epochs of training read the examples shortest first.
      sortagrad_epochs=0,
      # Filled in from the problem by Problem.update_hparams.
      has_inputs=True,
      input_vocab_size=0,
      target_vocab_size=0,
  )
