"""The hparams the engine reads (batching, optimization, averaging, precision), declared once
each: type, default (Tensor2Tensor's basic_params1), valid values and meaning. Each model
declares the hparams it reads itself (T2TModel.HPARAMS); a registered hparams set composes
these groups with the model's and replaces some defaults. T2TModel.validate_hparams checks
a set against all of them before anything is built or written.

`eval_time` hparams may be changed for evaluation and decoding of a trained run (they
change how batches are formed or the compute dtype, not the weights); the others are fixed
by the run's hparams.json.
"""
from t2t_lite import options
from t2t_lite.options import HParamsGroup, setting


@options.hparams_group("batching")
class Batching(HParamsGroup):
  batch_size: int = setting(4096, "tokens per replica per batch (the longer of "
                            "inputs/targets per example; feature frames for speech)",
                            minimum=1, eval_time=True)
  max_length: int = setting(0, "training drops longer examples (0: batch_size)", minimum=0,
                            eval_time=True)
  min_length_bucket: int = setting(8, "the shortest length bucket", minimum=1,
                                   eval_time=True)
  length_bucket_step: float = setting(1.1, "each length bucket this much longer than the "
                                      "last", above=1.0, eval_time=True)
  eval_drop_long_sequences: bool = setting(False, "evaluation also drops examples longer "
                                           "than max_length", eval_time=True)
  packed_length: int = setting(0, "rows of this many tokens packing several training "
                               "examples; attention and loss stay within each example "
                               "(0: no packing)", minimum=0)
  sortagrad_epochs: int = setting(0, "SortaGrad: the first N epochs of training read the "
                                  "examples shortest first (in length-bucketed batches), "
                                  "then shuffled", minimum=0)


@options.hparams_group("optimization")
class Optimization(HParamsGroup):
  optimizer: str = setting("adam", "a registered optimizer (adam, adafactor, lamb, lars)")
  optimizer_adam_beta1: float = setting(0.85, "Adam's beta1", minimum=0, below=1)
  optimizer_adam_beta2: float = setting(0.997, "Adam's beta2", minimum=0, below=1)
  optimizer_adam_epsilon: float = setting(1e-6, "Adam's epsilon", above=0)
  optimizer_adafactor_decay_rate: float = setting(
      0.8, "Adafactor's second-moment decay exponent", above=0)
  optimizer_adafactor_clipping_threshold: float = setting(1.0, "Adafactor's update clipping",
                                                          above=0)
  optimizer_lamb_beta1: float = setting(0.9, "LAMB's beta1", minimum=0, below=1)
  optimizer_lamb_beta2: float = setting(0.999, "LAMB's beta2", minimum=0, below=1)
  optimizer_lamb_epsilon: float = setting(1e-6, "LAMB's epsilon", above=0)
  optimizer_lamb_weight_decay: float = setting(0.01, "LAMB's weight decay", minimum=0)
  optimizer_lars_momentum: float = setting(0.9, "LARS's momentum", minimum=0, below=1)
  optimizer_lars_eta: float = setting(0.001, "LARS's trust coefficient", above=0)
  optimizer_lars_weight_decay: float = setting(1e-4, "LARS's weight decay", minimum=0)
  clip_grad_norm: float = setting(2.0, "clip the replica-summed gradient to this global "
                                  "norm (0: no clipping)", minimum=0)
  gradient_accumulation_steps: int = setting(
      1, "micro-batches per update (the update of one batch this many times as large)",
      minimum=1)
  learning_rate_schedule: str = setting("constant*linear_warmup*rsqrt_decay",
                                        "registered factors multiplied, e.g. "
                                        "constant*linear_warmup*rsqrt_decay")
  learning_rate_constant: float = setting(1.0, "the 'constant' factor (0 would never "
                                          "train)", above=0)
  learning_rate_warmup_steps: int = setting(100, "steps of linear warmup", minimum=0)
  learning_rate_decay_steps: int = setting(5000, "steps of 'linear_decay' at the end of "
                                           "training", minimum=0)


@options.hparams_group("averaging")
class Averaging(HParamsGroup):
  ema_decay: float = setting(0.0, "keep an exponential moving average of the weights with "
                             "this decay, evaluated, decoded and exported in their place "
                             "(0: off)", minimum=0, below=1)


@options.hparams_group("precision")
class Precision(HParamsGroup):
  activation_dtype: str = setting(
      "float32", "the compute dtype; variables stay float32 (auto: bfloat16 where this "
      "machine runs it faster, else float32; measured once per machine and recorded in the "
      "run's hparams.json)", choices=("float32", "bfloat16", "float16", "auto"),
      eval_time=True)
  mixed_precision_optimizer_init_loss_scale: float = setting(
      2.0 ** 15, "float16: the dynamic loss scale starts here", minimum=1)
  mixed_precision_loss_scale_growth_steps: int = setting(
      2000, "float16: the scale doubles after this many finite steps in a row", minimum=1)


GROUPS = (Batching, Optimization, Averaging, Precision)
SPECS = options.hparam_specs(*GROUPS)
