"""Registered models. Importing this package registers all of them."""
from t2t_lite.models import deep_speech2  # noqa: F401
from t2t_lite.models import transformer  # noqa: F401
