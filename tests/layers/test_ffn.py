"""The Transformer's feed-forward layer: dense + ReLU + dropout + dense."""
import keras
import numpy as np
import tensorflow as tf

from t2t_lite.layers.ffn import DenseReluDense


def test_shape_and_relu():
  layer = DenseReluDense(16, 4, 0.0, keras.initializers.GlorotUniform())
  x = tf.random.stateless_normal([2, 3, 4], seed=[1, 1])
  y = layer(x)
  assert y.shape == (2, 3, 4)
  hidden = tf.nn.relu(layer.inner(x))
  np.testing.assert_allclose(layer.outer(hidden).numpy(), y.numpy(), atol=1e-6)


def test_weights_are_the_two_dense_layers_of_earlier_checkpoints():
  layer = DenseReluDense(16, 4, 0.0, keras.initializers.GlorotUniform(), name="ffn")
  layer(tf.zeros([2, 3, 4]))
  assert sorted(v.path for v in layer.weights) == [
      "ffn/conv1/bias", "ffn/conv1/kernel", "ffn/conv2/bias", "ffn/conv2/kernel"]
