"""The command-line mains (installed as t2t_lite.bin)."""
import os

# TensorFlow reads this when it is first imported, which every binary's imports do: set
# here, before any of them runs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
