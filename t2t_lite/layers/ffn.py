"""Position-wise feed-forward block (Tensor2Tensor's dense_relu_dense)."""
import keras
import tensorflow as tf

from t2t_lite.layers.common import fresh
from t2t_lite.layers.dropout import DEFAULT_BITS, DEFAULT_KERNEL, Dropout


class DenseReluDense(keras.layers.Layer):
  """relu(x W1 + b1) -> dropout -> W2 + b2, over [..., hidden] inputs.

  The weights are those of two Keras Dense layers (conv1, conv2: checkpoints unchanged);
  the products are computed on the tokens flattened to one 2-D matrix, where TensorFlow's
  graph optimizer fuses each matmul with its bias add (and the first with its ReLU) into
  one oneDNN kernel. Keras' Dense multiplies a 3-D input through tensordot's reshapes,
  which leaves the bias add and the ReLU as passes of their own."""

  def build(self, *shapes, **kw):
    self.built = True  # weights are made in __init__; children build on first call

  def __init__(self, filter_size, hidden_size, relu_dropout, initializer,
               dropout_bits=DEFAULT_BITS, dropout_kernel=DEFAULT_KERNEL, **kwargs):
    super().__init__(**kwargs)
    self.inner = keras.layers.Dense(filter_size, activation="relu",
                                    kernel_initializer=fresh(initializer), name="conv1")
    self.outer = keras.layers.Dense(hidden_size, kernel_initializer=fresh(initializer),
                                    name="conv2")
    self.dropout = Dropout(relu_dropout, dropout_bits, dropout_kernel)

  def call(self, x, training=False):
    if not self.inner.built:
      self.inner.build(x.shape)
      self.outer.build(x.shape[:-1] + (self.inner.units,))
    shape = tf.shape(x)
    rows = tf.reshape(x, [-1, x.shape[-1]])
    h = tf.nn.relu(tf.nn.bias_add(tf.matmul(rows, tf.cast(self.inner.kernel, x.dtype)),
                                  tf.cast(self.inner.bias, x.dtype)))
    h = self.dropout(h, training=training)
    y = tf.nn.bias_add(tf.matmul(h, tf.cast(self.outer.kernel, x.dtype)),
                       tf.cast(self.outer.bias, x.dtype))
    return tf.reshape(y, tf.concat([shape[:-1], [self.outer.units]], 0))
