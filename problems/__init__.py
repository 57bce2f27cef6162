"""Registered problems. Importing this package registers all of them, and mixtures of them
(`a+b`, data/mixture.py)."""
from t2t_lite.data import mixture  # noqa: F401
from t2t_lite.problems import algorithmic, lm, speech, translate  # noqa: F401
