"""The DeepBench kernel suite: DeepBench's shapes and FLOP counts, computations equal to
TensorFlow's reference ops, and shapes picked by the time and memory budget."""
import json

import numpy as np
import pytest
import tensorflow as tf

from t2t_lite.errors import UserError
from t2t_lite.kernels import deepbench_shapes, suite
from t2t_lite.kernels.suite import Kernel

PEAK = {"fp32": 1000.0, "bf16": 2000.0}


def test_the_published_lists_are_all_there():
  counts = {name: {s: len(table[s]) for s in deepbench_shapes.SETS}
            for name, table in (("gemm", deepbench_shapes.GEMM),
                                ("conv", deepbench_shapes.CONV),
                                ("rnn", deepbench_shapes.RNN))}
  assert counts == {"gemm": {"training": 160, "inference_server": 75, "inference_device": 13},
                    "conv": {"training": 94, "inference_server": 107, "inference_device": 16},
                    "rnn": {"training": 53, "inference_server": 69, "inference_device": 3}}


def test_flops_follow_deepbench_conventions():
  assert Kernel("gemm", (1760, 16, 1760, False, False), "forward", "fp32").flops() == \
      2 * 1760 * 16 * 1760
  ds2 = Kernel("conv", (700, 161, 1, 4, 32, 20, 5, 0, 0, 2, 2), "forward", "fp32")
  assert ds2.conv_output_hw() == (79, 341)
  assert ds2.flops() == 2 * 4 * 32 * 1 * 5 * 20 * 79 * 341
  gru = Kernel("rnn", (4, 2, 3, "gru"), "forward", "fp32")
  assert gru.flops() == 2 * 3 * 4 * 8 * 2 * 3  # input and recurrent matmuls of 3 gates
  assert Kernel("rnn", (4, 2, 3, "gru"), "forward_backward", "fp32").flops() == \
      3 * gru.flops()


def test_shapes_run_once_with_every_set_they_appear_in():
  kernels = suite.deepbench_kernels(["training", "inference_server"], ["gemm", "conv"],
                                    ["fp32"])
  shared = [k for k in kernels if k.kind == "gemm" and k.shape == (1024, 700, 512, False,
                                                                   False)]
  assert len(shared) == 1 and shared[0].sets == ("training", "inference_server")
  ds2 = [k.phase for k in kernels if k.kind == "conv" and
         k.shape == (700, 161, 1, 4, 32, 20, 5, 0, 0, 2, 2)]
  assert ds2 == ["forward", "backward_input", "backward_filter"]  # training: both halves
  assert len({k.key for k in kernels}) == len(kernels)


def _reference_conv(x, w, strides, padding):
  pads = [[0, 0], [padding[0]] * 2, [padding[1]] * 2, [0, 0]]
  return tf.nn.conv2d(x, w, [1, *strides, 1], pads)


@pytest.mark.parametrize("shape", [(5, 4, 6, True, False), (3, 7, 2, False, True)])
def test_gemm_computes_deepbench_transposes(shape):
  m, n, k, a_t, b_t = shape
  a = suite._random([k, m] if a_t else [m, k], 1, tf.float32).numpy()
  b = suite._random([n, k] if b_t else [k, n], 2, tf.float32).numpy()
  expected = (a.T if a_t else a) @ (b.T if b_t else b)
  out = suite.BUILDERS["gemm"](Kernel("gemm", shape, "forward", "fp32"), tf.float32)()
  np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_conv_phases_equal_tensorflows_gradients():
  shape = (9, 8, 3, 2, 4, 3, 5, 1, 2, 2, 1)  # w, h, c, n, k, s, r, pad_w, pad_h, ws, hs
  kernels = {p: Kernel("conv", shape, p, "fp32")
             for p in ("forward", "backward_input", "backward_filter")}
  f = kernels["forward"].fields
  x = suite._random([f["n"], f["h"], f["w"], f["c"]], 1, tf.float32)
  w = suite._random([f["r"], f["s"], f["c"], f["k"]], 2, tf.float32)
  strides, padding = (f["hstride"], f["wstride"]), (f["pad_h"], f["pad_w"])
  with tf.GradientTape() as tape:
    tape.watch([x, w])
    y = _reference_conv(x, w, strides, padding)
  assert y.shape[1:3] == kernels["forward"].conv_output_hw()
  dy = suite._random(y.shape, 3, tf.float32)
  dx, dw = tape.gradient(y, [x, w], output_gradients=dy)
  got = {p: suite.BUILDERS["conv"](k, tf.float32)() for p, k in kernels.items()}
  for phase, expected in (("forward", y), ("backward_input", dx), ("backward_filter", dw)):
    np.testing.assert_allclose(got[phase].numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cell", ["gru", "lstm", "vanilla"])
def test_rnn_phases_run_the_layers(cell):
  forward = suite.BUILDERS["rnn"](Kernel("rnn", (6, 2, 5, cell), "forward", "fp32"),
                                  tf.float32)()
  assert forward.shape == (2, 5, 6)
  grads = suite.BUILDERS["rnn"](Kernel("rnn", (6, 2, 5, cell), "forward_backward", "fp32"),
                                tf.float32)()
  assert grads[0].shape == (2, 5, 6) and all(g is not None for g in grads)


def test_the_budget_and_memory_limit_skip_shapes_with_a_reason():
  tiny = Kernel("gemm", (8, 4, 16, False, False), "forward", "fp32", ("training",))
  huge = Kernel("gemm", (8448, 48000, 2816, False, False), "forward", "fp32", ("training",))
  wide = Kernel("conv", (56, 56, 64, 1, 64, 3, 3, 1, 1, 1, 1), "forward", "fp32")
  results, skipped = suite.run_kernels([huge, tiny, wide], PEAK, budget_s=4.0,
                                       memory_limit=2 ** 20, log=lambda *a: None)
  assert [r["id"] for r in results] == [tiny.to_json()["id"]]
  # Microseconds: repeated. (Its GFLOP/s, rounded to 0.1, may be 0.0 on a slow machine.)
  assert results[0]["ms"] > 0 and results[0]["reps"] > 1
  reasons = {s["id"]: s["reason"] for s in skipped}
  assert "memory limit" in reasons[huge.to_json()["id"]]
  assert "memory limit" in reasons[wide.to_json()["id"]]
  results, skipped = suite.run_kernels([huge, tiny], PEAK, budget_s=2.0, memory_limit=None,
                                       log=lambda *a: None)
  assert len(results) == 1 and "over the time budget" in skipped[0]["reason"]


def test_a_kernel_list_round_trips(tmp_path):
  kernels = suite.deepbench_kernels(["inference_device"], ["conv", "rnn"], ["fp32", "bf16"])
  path = tmp_path / "list.json"
  path.write_text(json.dumps({"kernels": [k.to_json() for k in kernels]}))
  assert suite.read_kernel_list(str(path)) == kernels
  path.write_text(json.dumps([{"kind": "gemm", "shape": [1, 2], "phase": "forward",
                               "dtype": "fp32"}]))
  with pytest.raises(UserError, match="a gemm shape has 5 fields"):
    suite.read_kernel_list(str(path))


def test_auto_adds_bfloat16_where_its_peak_is_faster():
  assert suite.choose_dtypes("auto", {"fp32": 100, "bf16": 200}) == ["fp32", "bf16"]
  assert suite.choose_dtypes("auto", {"fp32": 100, "bf16": 100}) == ["fp32"]
  assert suite.choose_dtypes("both", {"fp32": 100, "bf16": 50}) == ["fp32", "bf16"]
