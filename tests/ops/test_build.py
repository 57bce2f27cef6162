import os
import subprocess

import pytest
import tensorflow as tf

from t2t_lite import machine
from t2t_lite.layers.dropout import Dropout
from t2t_lite.ops import build
from tests import scripts
from tests.bin import helpers


@pytest.fixture
def fresh_loader(monkeypatch, tmp_path):
  """build.load as in a new process, caching into tmp_path."""
  monkeypatch.setattr(build, "_LOADED", {})
  monkeypatch.setenv(machine.CACHE_ENV, str(tmp_path))
  return tmp_path


def _load_in_new_process(env):
  """Loads the op in a new process (a process registers an op once): a fork of the
  tests' server, which has imported t2t_lite but loaded no op."""
  code = ("from t2t_lite.ops import build; import sys; m = build.load('dropout_op.cc'); "
          "sys.exit(0 if m is not None and hasattr(m, 't2t_dropout') else 1)")
  return subprocess.run(helpers.python_c() + [code], env=env, capture_output=True, text=True)


def test_builds_once_into_the_cache_and_loads_from_it(fresh_loader):
  proc = _load_in_new_process(dict(os.environ))
  assert proc.returncode == 0, proc.stderr[-500:]
  path = build.library_path("dropout_op.cc", tf)
  assert path.startswith(str(fresh_loader)) and os.path.exists(path)
  built = os.path.getmtime(path)
  # A later process loads the cached library: it needs no compiler (none on its PATH).
  proc = _load_in_new_process(dict(os.environ, PATH=str(fresh_loader)))
  assert proc.returncode == 0, proc.stderr[-500:]
  assert os.path.getmtime(path) == built


def test_without_a_compiler_dropout_falls_back_to_tf_ops(fresh_loader, monkeypatch,
                                                         capsys):
  monkeypatch.setenv("CXX", str(fresh_loader / "no-such-compiler"))
  assert build.load("dropout_op.cc") is None
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "dropout_op.cc unavailable" in err
  assert "using TensorFlow ops instead" in err
  layer = Dropout(0.1, kernel="fused")
  assert not layer.fused
  assert layer(tf.ones([4, 4]), training=True).shape == (4, 4)


def test_a_failing_build_is_one_line_and_leaves_no_library(fresh_loader, monkeypatch,
                                                          capsys):
  compiler = fresh_loader / "failing-c++"
  compiler.write_text("#!/bin/sh\necho 'x.cc:1: error: something broke' >&2\nexit 1\n")
  compiler.chmod(0o755)
  monkeypatch.setenv("CXX", str(compiler))
  assert build.load("dropout_op.cc") is None
  err = capsys.readouterr().err
  assert "error: something broke" in err and err.count("\n") == 1
  assert not os.path.exists(build.library_path("dropout_op.cc", tf))


def test_threads_that_load_together_all_get_the_op():
  # MirroredStrategy traces its replicas in threads.
  code = """
import concurrent.futures, json
from t2t_lite.ops import build
with concurrent.futures.ThreadPoolExecutor(4) as pool:
  modules = list(pool.map(lambda _: build.load('dropout_op.cc'), range(4)))
print(json.dumps({"distinct": len({id(m) for m in modules}),
                  "with_op": [hasattr(m, 't2t_dropout') for m in modules]}))
"""
  assert scripts.run_json(code) == {"distinct": 1, "with_op": [True] * 4}
