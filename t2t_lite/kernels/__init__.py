"""Kernel suites for t2t-benchmark --kernels (DeepBench), timed through the framework's layers."""
