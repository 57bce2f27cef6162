"""Training memory per parameter: variable bytes, activations under a tape, the report."""
import keras
import pytest
import tensorflow as tf

from t2t_lite import memory


def test_variable_bytes_count_floating_variables_of_keras_and_tf():
  dense = keras.layers.Dense(3)
  dense.build((None, 5))
  counter = tf.Variable(0, dtype=tf.int64)
  assert memory.variables_bytes(dense.weights + [counter]) == (5 * 3 + 3) * 4


def test_activations_are_what_the_tape_holds():
  if memory.allocated_bytes() is None:
    pytest.skip("this TensorFlow build keeps no allocator statistics")

  class Model(keras.Model):
    def __init__(self):
      super().__init__()
      self.dense = keras.layers.Dense(512)

    def call(self, features, training=False):
      return self.dense(features["x"])

    def training_loss_sums(self, features):
      return tf.reduce_sum(self(features, training=True)), tf.constant(1.0)
  model = Model()
  features = {"x": tf.ones([256, 512])}
  model(features)
  held = memory.activation_bytes(model, features)
  assert held >= 256 * 512 * 4  # at least the layer's output


def test_report_per_parameter():
  mib = 2 ** 20
  r = memory.report(params=mib // 4, weights=mib, optimizer_state=2 * mib,
                    activations=3 * mib, step_peak=4 * mib, rss_before=100 * mib,
                    peak_rss=110 * mib)
  assert r["needed_mib"] == 7.0  # weights, their gradients, Adam's two moments, activations
  assert r["needed_bytes_per_param"] == 28.0
  assert r["step_allocated_bytes_per_param"] == 28.0 and r["step_allocated_over_needed"] == 1.0
  assert r["rss_bytes_per_param"] == 40.0
  assert memory.report(1, 4, 8, None, None, None, 10)["needed_mib"] is None
