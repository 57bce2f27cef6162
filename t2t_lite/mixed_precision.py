"""Mixed precision from hparams: `activation_dtype` picks the Keras dtype policy.

float32 (the default), bfloat16 or float16. Under the 16-bit policies variables stay
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

# activation_dtype -> Keras dtype policy
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def activation_dtype(hparams):
  """The hparam's value (validated against engine_hparams' declaration before a model is
  built)."""
  return hparams.activation_dtype


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
