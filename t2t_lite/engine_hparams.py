"""The hparams the engine reads (batching, optimization, precision), declared in one table:
their types, valid values and meaning. Their values live in the registered hparams sets
(Tensor2Tensor's basic_params1 and those built on it); each model declares the hparams it
reads itself (T2TModel.HPARAMS). T2TModel.validate_hparams checks a set against both before
anything is built or written.

`eval_time` hparams may be changed for evaluation and decoding of a trained run (they
change how batches are formed or the compute dtype, not the weights); the others are fixed
by the run's hparams.json.
"""
from t2t_lite.hparams_lib import spec

BATCHING = (
    spec("batch_size", int, "tokens per replica per batch (the longer of inputs/targets "
         "per example; feature frames for speech)", minimum=1, eval_time=True),
    spec("max_length", int, "training drops longer examples (0: batch_size)", minimum=0,
         eval_time=True),
    spec("min_length_bucket", int, "the shortest length bucket", minimum=1, eval_time=True),
    spec("length_bucket_step", float, "each length bucket this much longer than the last",
         above=1.0, eval_time=True),
    spec("eval_drop_long_sequences", bool, "evaluation also drops examples longer than "
         "max_length", eval_time=True),
    spec("packed_length", int, "rows of this many tokens packing several training examples "
         "(0: no packing)", minimum=0),
    spec("sortagrad_epochs", int, "SortaGrad: the first N epochs of training read the "
         "examples shortest first (in length-bucketed batches), then shuffled", minimum=0),
)

OPTIMIZATION = (
    spec("optimizer", str, "a registered optimizer (adam, adafactor, lamb, lars)"),
    spec("optimizer_adam_beta1", float, "Adam's beta1", minimum=0, below=1),
    spec("optimizer_adam_beta2", float, "Adam's beta2", minimum=0, below=1),
    spec("optimizer_adam_epsilon", float, "Adam's epsilon", above=0),
    spec("optimizer_adafactor_decay_rate", float, "Adafactor's second-moment decay exponent",
         above=0),
    spec("optimizer_adafactor_clipping_threshold", float, "Adafactor's update clipping",
         above=0),
    spec("optimizer_lamb_beta1", float, "LAMB's beta1", minimum=0, below=1),
    spec("optimizer_lamb_beta2", float, "LAMB's beta2", minimum=0, below=1),
    spec("optimizer_lamb_epsilon", float, "LAMB's epsilon", above=0),
    spec("optimizer_lamb_weight_decay", float, "LAMB's weight decay", minimum=0),
    spec("optimizer_lars_momentum", float, "LARS's momentum", minimum=0, below=1),
    spec("optimizer_lars_eta", float, "LARS's trust coefficient", above=0),
    spec("optimizer_lars_weight_decay", float, "LARS's weight decay", minimum=0),
    spec("clip_grad_norm", float, "clip the replica-summed gradient to this global norm "
         "(0: no clipping)", minimum=0),
    spec("gradient_accumulation_steps", int, "micro-batches per update", minimum=1),
    spec("learning_rate_schedule", str, "registered factors multiplied, e.g. "
         "constant*linear_warmup*rsqrt_decay"),
    spec("learning_rate_constant", float, "the 'constant' factor (0 would never train)",
         above=0),
    spec("learning_rate_warmup_steps", int, "steps of linear warmup", minimum=0),
    spec("learning_rate_decay_steps", int, "steps of 'linear_decay' at the end of training",
         minimum=0),
)

AVERAGING = (
    spec("ema_decay", float, "keep an exponential moving average of the weights with this "
         "decay, evaluated, decoded and exported in their place (0: off)", minimum=0,
         below=1),
)

PRECISION = (
    spec("activation_dtype", str, "the compute dtype; variables stay float32 (auto: "
         "bfloat16 where this machine runs it faster, else float32; measured once per "
         "machine and recorded in the run's hparams.json)",
         choices=("float32", "bfloat16", "float16", "auto"), eval_time=True),
    spec("mixed_precision_optimizer_init_loss_scale", float,
         "float16: the dynamic loss scale starts here", minimum=1),
    spec("mixed_precision_loss_scale_growth_steps", int,
         "float16: the scale doubles after this many finite steps in a row", minimum=1),
)

SPECS = BATCHING + OPTIMIZATION + AVERAGING + PRECISION
