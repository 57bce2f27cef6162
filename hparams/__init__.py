"""Registered hparams sets. Importing this package registers all of them."""
from t2t_lite.hparams import common_hparams, deep_speech2_hparams, transformer_hparams  # noqa: F401
