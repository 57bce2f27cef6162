"""Custom TensorFlow ops in C++, compiled on first use (build.py); each has a TensorFlow-op
fallback with the same results where it cannot be built."""
