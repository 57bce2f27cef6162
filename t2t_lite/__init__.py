"""t2t_lite: a Tensor2Tensor-style research framework on TensorFlow 2."""
__version__ = "0.1.0"
