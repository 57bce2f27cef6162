"""--effective_batch_size: the tokens of one update, whatever the number of devices.

A recipe states how many tokens each update sees (OpenNMT-tf's effective_batch_size);
the gradient accumulation that gives it follows from the replicas of the strategy and the
per-replica batch_size: accumulation = ceil(effective / (replicas x batch_size)). So the
same command makes the same updates on 1, 2 or 8 devices (given the same global batches),
and a run may resume on another number of devices: its hparams.json keeps the
gradient_accumulation_steps it was given, the derived value lives in the training step.
"""
import math

from t2t_lite.errors import UserError


def accumulation_steps(effective: int, batch_size: int, replicas: int) -> int:
  """Micro-batches per update so that replicas x batch_size x steps >= effective."""
  return max(1, math.ceil(effective / (replicas * batch_size)))


def apply(hparams, effective: int, replicas: int, log=print):
  """hparams, or a copy with gradient_accumulation_steps derived from `effective` tokens
  per update (0: hparams unchanged). Logs the derivation."""
  if not effective:
    return hparams
  if hparams.gradient_accumulation_steps > 1:
    raise UserError(f"--effective_batch_size={effective} sets gradient_accumulation_steps "
                    "itself; drop hparam gradient_accumulation_steps="
                    f"{hparams.gradient_accumulation_steps} (or the flag)")
  steps = accumulation_steps(effective, hparams.batch_size, replicas)
  derived = hparams.copy()
  derived.gradient_accumulation_steps = steps
  actual = replicas * hparams.batch_size * steps
  log(f"effective batch: {actual} tokens per update = {replicas} replica(s) x batch_size "
      f"{hparams.batch_size} x {steps} accumulated micro-batch(es) "
      f"(--effective_batch_size={effective})")
  if actual != effective:
    log(f"WARNING: --effective_batch_size={effective} is not a multiple of {replicas} "
        f"replica(s) x batch_size {hparams.batch_size}: each update reads up to {actual} "
        "tokens")
  return derived
