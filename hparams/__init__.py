"""Registered hparams sets. Importing this package registers all of them."""
from t2t_lite.hparams import common_hparams  # noqa: F401
from t2t_lite.hparams import deep_speech2_hparams  # noqa: F401
from t2t_lite.hparams import transformer_hparams  # noqa: F401
