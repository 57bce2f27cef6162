"""Position-wise feed-forward block (Tensor2Tensor's dense_relu_dense)."""
import keras

from t2t_lite.layers.common import fresh
from t2t_lite.layers.dropout import Dropout


class DenseReluDense(keras.layers.Layer):

  def build(self, *shapes, **kw):
    self.built = True  # weights are made in __init__; children build on first call

  def __init__(self, filter_size, hidden_size, relu_dropout, initializer, dropout_bits=8,
               **kwargs):
    super().__init__(**kwargs)
    self.inner = keras.layers.Dense(filter_size, activation="relu",
                                    kernel_initializer=fresh(initializer), name="conv1")
    self.outer = keras.layers.Dense(hidden_size, kernel_initializer=fresh(initializer),
                                    name="conv2")
    self.dropout = Dropout(relu_dropout, dropout_bits)

  def call(self, x, training=False):
    return self.outer(self.dropout(self.inner(x), training=training))
