"""basic_params1: the hparams every model shares, at Tensor2Tensor's defaults.

Each hparam is declared (type, default, bounds, help) where it is read: the engine's groups
(t2t_lite/engine_hparams.py), the model's (t2t_model.ModelHParams) and the layers' every
model of this package uses (initializer, dropout, modality). This set composes them; the
sets built on it replace some of their values.
"""
from t2t_lite import engine_hparams, registry
from t2t_lite.hparams_lib import HParams
from t2t_lite.layers.common import InitializerHParams
from t2t_lite.layers.dropout import DropoutHParams
from t2t_lite.layers.modality import ModalityHParams
from t2t_lite.t2t_model import ModelHParams


@registry.register_hparams
def basic_params1():
  return HParams.of(*(group() for group in engine_hparams.GROUPS), ModelHParams(),
                    InitializerHParams(), DropoutHParams(), ModalityHParams())
