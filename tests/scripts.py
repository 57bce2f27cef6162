"""For tests that need a process of their own (the CPU split into logical devices before
TensorFlow starts, an op library loaded afresh): the script prints what it measured as
its last line, one JSON object, and the test asserts on those values."""
import json
import subprocess

import numpy as np

from tests.bin import helpers


def run_json(script, *args, timeout=300):
  """The JSON object `script` (python -c, with `args`) prints last. It runs in a process
  of its own, forked from one that has imported TensorFlow but not started it."""
  proc = subprocess.run(helpers.python_c() + [script, *map(str, args)], capture_output=True,
                        text=True, timeout=timeout)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_trained_alike(losses, weights, loss_rtol=1e-5, rtol=1e-4, atol=1e-6):
  """Two runs' [losses per step] and [weights] (as a script prints them) agree."""
  (first, second), (these, those) = losses, weights
  assert len(first) == len(second) and all(abs(x) < 1e6 for x in first), losses
  np.testing.assert_allclose(second, first, rtol=loss_rtol)
  assert len(these) == len(those)
  for a, b in zip(these, those):
    np.testing.assert_allclose(np.array(b), np.array(a), rtol=rtol, atol=atol)
