"""A Keras GRU layer's recurrence with the input projection of all time steps hoisted.

Keras runs its GRU on CPU (no cuDNN) as a loop of GRUCell calls, each multiplying that
step's input by the input kernel: hundreds of small matmuls per layer and direction. Here
the input kernel is applied to the whole sequence as one matmul, and only the recurrent
matmul stays in the loop. Same weights (the Keras layer keeps owning and checkpointing
them), same equations (reset_after=True, sigmoid/tanh), same masking as a Bidirectional
GRU with return_sequences: a masked step keeps the state and outputs zeros.
"""
import tensorflow as tf


def check_supported(gru):
  """The hoisted loop implements Keras' defaults only; anything else is a programming error."""
  cell = gru.cell
  if not (cell.reset_after and cell.use_bias and cell.dropout == 0.0 and
          cell.recurrent_dropout == 0.0 and cell.activation.__name__ == "tanh" and
          cell.recurrent_activation.__name__ == "sigmoid"):
    raise ValueError(f"{gru.name}: hoisted GRU needs Keras' default GRU settings")


def gru_sequence(gru, x, mask, reverse=False, initial_state=None, return_state=False):
  """x [b, t, n], mask [b, t] bool -> outputs [b, t, units] of Keras GRU layer `gru` (read
  right to left when `reverse`, outputs in the original order). A stream continues from
  `initial_state` [b, units] (default zeros) and, with return_state, also gets the state
  after its last unmasked step: (outputs, state)."""
  cell = gru.cell
  units = cell.units
  kernel = tf.cast(cell.kernel, x.dtype)
  recurrent_kernel = tf.cast(cell.recurrent_kernel, x.dtype)
  input_bias, recurrent_bias = tf.unstack(tf.cast(cell.bias, x.dtype))
  batch, length = tf.shape(x)[0], tf.shape(x)[1]
  projected = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), kernel) + input_bias
  projected = tf.transpose(tf.reshape(projected, [batch, length, 3 * units]), [1, 0, 2])
  keep = tf.transpose(mask)[..., None]  # [t, b, 1]
  if reverse:
    projected, keep = tf.reverse(projected, [0]), tf.reverse(keep, [0])

  def step(h, inputs):
    x_t, keep_t = inputs
    x_z, x_r, x_h = tf.split(x_t, 3, axis=-1)
    inner = tf.matmul(h, recurrent_kernel) + recurrent_bias
    h_z, h_r, h_h = tf.split(inner, 3, axis=-1)
    z = tf.sigmoid(x_z + h_z)
    r = tf.sigmoid(x_r + h_r)
    candidate = tf.tanh(x_h + r * h_h)
    return tf.where(keep_t, z * h + (1.0 - z) * candidate, h)

  if initial_state is None:
    initial_state = tf.zeros([batch, units], x.dtype)
  states = tf.scan(step, (projected, keep), initializer=tf.cast(initial_state, x.dtype))
  outputs = states * tf.cast(keep, x.dtype)
  if reverse:
    outputs = tf.reverse(outputs, [0])
  outputs = tf.transpose(outputs, [1, 0, 2])
  if not return_state:
    return outputs
  # Masked steps keep the state, so the last scanned state is the last unmasked one's.
  final = tf.cond(length > 0, lambda: states[-1], lambda: tf.cast(initial_state, x.dtype))
  return outputs, final


def bidirectional_gru(layer, x, mask):
  """A keras.layers.Bidirectional(GRU(return_sequences=True)) with merge_mode 'concat'."""
  if not layer.built:
    layer.build(x.shape)
  return tf.concat([gru_sequence(layer.forward_layer, x, mask),
                    gru_sequence(layer.backward_layer, x, mask, reverse=True)], axis=-1)


def forward_gru(layer, x, mask):
  """A keras.layers.GRU(return_sequences=True), left to right."""
  if not layer.built:
    layer.build(x.shape)
  return gru_sequence(layer, x, mask)
