import numpy as np
import pytest
import tensorflow as tf

from t2t_lite.layers.dropout import Dropout, compiled_by_xla
from tests import scripts


@pytest.mark.parametrize("rate,bits,realized", [
    (0.1, 8, 26 / 256), (0.3, 8, 77 / 256), (0.01, 8, 655 / 65536),  # 8 bits miss 0.01
    (0.1, 16, 6554 / 65536), (0.3, 16, 19661 / 65536)])
def test_drops_the_realized_fraction_and_keeps_the_mean(rate, bits, realized):
  x = tf.ones([400, 503])  # not a multiple of 4: the last random word is partly used
  layer = Dropout(rate, bits)
  assert layer.realized_rate == pytest.approx(realized)
  assert abs(layer.realized_rate - rate) <= 0.02 * rate
  y = layer(x, training=True).numpy()
  assert abs((y == 0).mean() - realized) < 0.005
  assert abs(y.mean() - 1.0) < 0.02
  kept = 1 / (1 - realized) if bits == 8 and rate >= 0.1 else 1 / (1 - rate)
  np.testing.assert_allclose(y[y != 0], kept, rtol=1e-6)


def test_sixteen_bits_draw_the_masks_of_earlier_versions():
  # dropout_bits=16 reproduces runs from before the setting existed: each 32-bit word
  # gives two 16-bit uniforms, kept at >= round(rate * 65536), scaled by 1 / (1 - rate).
  x = tf.random.normal([6, 10])
  layer = Dropout(0.1, 16)
  seed = tf.cast(layer.seed_generator.state.value, tf.int32)  # next() draws this state
  words = tf.random.stateless_uniform([30], seed=seed, minval=None, maxval=None,
                                      dtype=tf.uint32)
  keep = tf.reshape(tf.reshape(tf.bitcast(words, tf.uint16), [-1]) >= 6554, [6, 10])
  want = x * tf.cast(keep, tf.float32) * (1 / 0.9)
  np.testing.assert_array_equal(layer(x, training=True).numpy(), want.numpy())


def test_eight_bits_never_round_a_rate_to_all_or_nothing():
  assert Dropout(0.999, 8).bits == 16  # 256/256 would drop everything
  assert Dropout(0.001, 8).bits == 16  # 0/256 would drop nothing
  with pytest.raises(ValueError, match="bits"):
    Dropout(0.1, 4)


def test_identity_when_not_training_and_fresh_masks_each_call():
  x = tf.random.normal([8, 16])
  layer = Dropout(0.5)
  np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
  a, b = layer(x, training=True).numpy(), layer(x, training=True).numpy()
  assert not np.array_equal(a == 0, b == 0)


def test_gradient_flows_through_kept_elements_only():
  x = tf.ones([64, 64])
  layer = Dropout(0.25)
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = layer(x, training=True)
    total = tf.reduce_sum(y)
  g = tape.gradient(total, x).numpy()
  np.testing.assert_array_equal(g == 0, y.numpy() == 0)


def _paired_layers(rate, bits, **kwargs):
  """A fused-kernel and a tf-kernel Dropout whose random streams start at the same seed."""
  fused, ops = Dropout(rate, bits, "fused", **kwargs), Dropout(rate, bits, "tf", **kwargs)
  assert fused.fused and not ops.fused
  ops.seed_generator.state.assign(fused.seed_generator.state.value)
  return fused, ops


@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16, tf.float16])
@pytest.mark.parametrize("rate,bits", [(0.1, 8), (0.3, 16), (0.01, 8), (0.999, 8)])
@pytest.mark.parametrize("shape", [[7, 13, 5], [64, 257], [1], [0, 4]])
def test_fused_kernel_matches_the_tf_kernel_bit_for_bit(dtype, rate, bits, shape):
  fused, ops = _paired_layers(rate, bits, dtype=dtype.name)  # computing in `dtype`
  x = tf.cast(tf.random.normal(shape) * 3, dtype)
  for _ in range(2):  # consecutive calls draw from the stream alike
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(x)
      a, b = fused(x, training=True), ops(x, training=True)
      # An upstream gradient that differs per element, so masks must line up exactly.
      weights = tf.cast(tf.reshape(tf.range(tf.size(x)), shape), dtype)
      la, lb = tf.reduce_sum(a * weights), tf.reduce_sum(b * weights)
    np.testing.assert_array_equal(a.numpy().view(np.uint8), b.numpy().view(np.uint8))
    np.testing.assert_array_equal(tape.gradient(la, x).numpy(), tape.gradient(lb, x).numpy())


def test_fused_kernel_inside_a_compiled_function_and_nonfinite_inputs():
  # NaN and infinity stay NaN where dropped (x * 0), as with the tf kernel: a diverging
  # run is still caught by the trainer's non-finite check.
  fused, ops = _paired_layers(0.5, 8)
  x = tf.constant([[np.nan, np.inf, -np.inf, 1.0] * 8] * 4)
  run = tf.function(lambda layer: layer(x, training=True))
  np.testing.assert_array_equal(run(fused).numpy(), run(ops).numpy())
  assert np.isnan(run(fused).numpy()[:, 0]).all()


def test_kernel_choice():
  assert Dropout(0.1, kernel="auto").fused  # this machine: CPU only, the op builds
  assert not Dropout(0.1, kernel="tf").fused
  assert not Dropout(0.0, kernel="fused").fused  # nothing to drop
  with pytest.raises(ValueError, match="dropout kernel"):
    Dropout(0.1, kernel="xla")


def test_traced_for_xla_the_tf_kernel_runs_with_the_same_values():
  fused, ops = _paired_layers(0.1, 8)
  x = tf.random.normal([16, 33])

  def xla_call(layer):
    def fn():
      with compiled_by_xla():
        return layer(x, training=True)
    return tf.function(fn, jit_compile=True)()
  np.testing.assert_array_equal(xla_call(fused).numpy(), xla_call(ops).numpy())


MIRRORED = """
import json, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from t2t_lite.training import strategies
strategy = strategies.make_strategy("mirrored", worker_gpu=2)
import numpy as np, tensorflow as tf
from t2t_lite.layers.dropout import Dropout
with strategy.scope():
  fused, ops = Dropout(0.1, 8, "fused"), Dropout(0.1, 8, "tf")
  ops.seed_generator.state.assign(fused.seed_generator.state.value)
x = tf.random.normal([2, 8, 33])

@tf.function
def both():
  def replica():
    i = tf.distribute.get_replica_context().replica_id_in_sync_group
    return fused(x[i], training=True), ops(x[i], training=True)
  return strategy.run(replica)
a, b = both()
fused_out, tf_out = ([t.numpy() for t in strategy.experimental_local_results(r)] for r in (a, b))
print(json.dumps({"fused": fused.fused, "replicas": len(fused_out),
                  "equal": [bool(np.array_equal(u, v)) for u, v in zip(fused_out, tf_out)],
                  "zeros": [int((u == 0).sum()) for u in fused_out]}))
"""


def test_fused_kernel_under_mirrored_replicas():
  # Replicas trace in threads (ops/build.py loads the library once for all of them); the
  # CPU is split into two devices before TensorFlow starts, hence a subprocess.
  out = scripts.run_json(MIRRORED)
  assert out["fused"] and out["replicas"] == 2
  assert out["equal"] == [True, True]  # the fused kernel drops what the TF ops drop
  assert all(0 < zeros < 8 * 33 for zeros in out["zeros"])  # some dropped, not all


def test_auto_kernel_follows_what_the_runners_strategy_allows():
  from t2t_lite.layers import strategy_allows
  # parameter_server's workers cannot run ops built in this process: no fused kernel.
  with strategy_allows.using(strategy_allows.StrategyAllows(custom_ops=False)):
    layer = Dropout(0.1, 8, "auto")
  assert not layer.fused
