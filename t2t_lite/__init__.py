"""t2t_lite: a Tensor2Tensor-style research framework on TensorFlow 2."""
__version__ = "0.2.0.dev0"  # setup.py reads it; CHANGELOG.md says what each version changed
