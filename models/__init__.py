"""Registered models. Importing this package registers all of them."""
from t2t_lite.models import deep_speech2, transformer  # noqa: F401
