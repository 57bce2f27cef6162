"""Registered problems. Importing this package registers all of them."""
from t2t_lite.problems import algorithmic, lm, speech, translate  # noqa: F401
