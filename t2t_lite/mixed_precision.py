"""Mixed precision from hparams: `activation_dtype` picks the Keras dtype policy.

float32 (the default), bfloat16 or float16, or auto: bfloat16 where this machine runs it
faster, else float32 (machine.py measures that once per machine). `resolve_auto` says
which dtype auto becomes, and experiment.final_hparams puts it in the run's hparams before
a model is built; the run's hparams.json records that dtype,
so evaluation and decoding build the model the run trained. Under the 16-bit policies variables stay
float32 and layers compute in 16 bits (Keras autocasts a layer's float32 variables to its
compute dtype inside the layer's call). What needs float32 range or precision computes
in float32: layer normalization (Keras does it), the attention softmax (layers/attention.py),
the loss and the eval metrics (metrics.py). float16 also needs a dynamic loss scale
(training/loss_scale.py); bfloat16 has float32's exponent range and needs none.

The policy is captured when a layer is constructed, so a model must be constructed
inside `policy_scope` (the trainer's build_model and the decoder do this). Layers that
name their own dtype keep it.
"""
import contextlib

import keras

from t2t_lite import machine

# activation_dtype -> Keras dtype policy
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
AUTO = "auto"


def resolve_auto(hparams, log, run_dtype=None):
  """The dtype hparams' activation_dtype stands for: for auto, `run_dtype` (the dtype of
  the run being resumed, from its hparams.json), else this machine's choice (machine.py,
  logged); other values as they are. `hparams` is left as it is."""
  dtype = hparams.get("activation_dtype", "float32")
  if dtype != AUTO:
    return dtype
  if run_dtype and run_dtype != AUTO:
    dtype = run_dtype
    log(f"activation_dtype=auto -> {dtype} (the run being resumed trained in it)")
  else:
    choice = machine.choose_activation_dtype()
    dtype = choice.dtype
    log(choice.describe())
  return dtype


def activation_dtype(hparams):
  """The hparam's value (validated against engine_hparams' declaration before a model is
  built; "auto" resolved by resolve_auto first)."""
  dtype = hparams.activation_dtype
  if dtype == AUTO:  # a programming error: every binary resolves it first
    raise ValueError("activation_dtype=auto must be resolved (experiment.final_hparams) "
                     "before a model is built")
  return dtype


def uses_loss_scaling(hparams):
  return activation_dtype(hparams) == "float16"


@contextlib.contextmanager
def policy_scope(hparams):
  """Layers constructed inside get the policy of hparams.activation_dtype."""
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(POLICIES[activation_dtype(hparams)])
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)
