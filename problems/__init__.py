"""Registered problems. Importing this package registers all of them."""
from t2t_lite.problems import algorithmic  # noqa: F401
from t2t_lite.problems import speech  # noqa: F401
