"""The training loop, strategies, checkpoints and evaluation."""
