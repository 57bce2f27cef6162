"""A 2-D convolution whose filter gradient runs as a forward convolution.

On CPU (TensorFlow 2.21's oneDNN kernels) Conv2DBackpropFilter is slow for speech-shaped
convolutions: for DeepSpeech2's second convolution (16 x 200 x 40 x 32 input, 11 x 21
kernel, stride 1 x 2) it took 534 ms against 141 ms for the forward convolution, a third
of the whole training step. The filter gradient of a VALID convolution is itself a VALID
convolution, which oneDNN runs at full speed: the input with its batch and channel axes
swapped, convolved with the output gradient as the filter (batch as its input channels),
dilated by the strides. That took 150 ms for the same gradient (equal to 1e-6).

That holds for large kernels only. The DeepBench suite (t2t-benchmark --kernels) timed
both on its training shapes (2 cores, AVX-512): the forward convolution was 1.7-1.8x
faster for 20x5 and 10x5 kernels, even for 5x5, and slower for 3x3 and 1x1 kernels, down
to a sixth of the stock speed (56x56x64 -> 256, 1x1, stride 2: 22.5 vs 3.8 ms; 175x40x128
-> 128, 3x3: 2.4 s vs 0.56 s), where its filters are the whole output image. So kernels
of more than MIN_KERNEL_AREA_FOR_FORWARD_GRADIENT elements take the forward convolution,
smaller ones Conv2DBackpropFilter (both exact to float rounding).

Zero padding is explicit (tf.pad, then the VALID convolution), so every padded shape gets
the same gradients. `input_gradient` and `filter_gradient` are the two halves of the
backward pass, public so that t2t-benchmark's kernel suite times exactly what training
runs.
"""
import keras
import numpy as np
import tensorflow as tf


def input_gradient(input_shape, kernel, dy, strides):
  """d(loss)/d(x) of conv2d(x, kernel, strides, VALID) for x of `input_shape`."""
  return tf.raw_ops.Conv2DBackpropInput(input_sizes=input_shape, filter=kernel,
                                        out_backprop=dy, strides=[1, *strides, 1],
                                        padding="VALID")


MIN_KERNEL_AREA_FOR_FORWARD_GRADIENT = 25


def filter_gradient(x, dy, kernel_hw, strides):
  """d(loss)/d(kernel) [kh, kw, in, out] of conv2d(x, kernel, strides, VALID), by the
  faster of the two algorithms for this kernel size (see the module docstring)."""
  if kernel_hw[0] * kernel_hw[1] > MIN_KERNEL_AREA_FOR_FORWARD_GRADIENT:
    return filter_gradient_as_forward_conv(x, dy, kernel_hw, strides)
  return tf.raw_ops.Conv2DBackpropFilter(
      input=x, filter_sizes=tf.stack([kernel_hw[0], kernel_hw[1], tf.shape(x)[-1],
                                      tf.shape(dy)[-1]]),
      out_backprop=dy, strides=[1, *strides, 1], padding="VALID")


def filter_gradient_as_forward_conv(x, dy, kernel_hw, strides):
  """filter_gradient computed as a forward convolution (fast for large kernels)."""
  images = tf.transpose(x, [3, 1, 2, 0])   # [in, height, width, batch]
  filters = tf.transpose(dy, [1, 2, 0, 3])  # [out height, out width, batch, out]
  # Output [in, >= kh, >= kw, out]: offsets past the kernel (left over when a stride
  # does not divide the input) are computed and dropped.
  grad = tf.nn.conv2d(images, filters, [1, 1, 1, 1], "VALID",
                      dilations=[1, strides[0], strides[1], 1])
  return tf.transpose(grad, [1, 2, 0, 3])[:kernel_hw[0], :kernel_hw[1]]


def conv2d_valid(x, kernel, strides):
  """tf.nn.conv2d(x, kernel, strides, "VALID") for NHWC x and a [kh, kw, in, out] kernel
  (strides: (height, width), e.g. (time, frequency)), with the fast filter gradient."""
  strides = tuple(strides)
  kernel_hw = tuple(kernel.shape[:2])

  @tf.custom_gradient
  def conv(x, kernel):
    y = tf.nn.conv2d(x, kernel, [1, *strides, 1], "VALID")

    def grad(dy):
      return (input_gradient(tf.shape(x), kernel, dy, strides),
              filter_gradient(x, dy, kernel_hw, strides))
    return y, grad

  return conv(x, kernel)


class LookaheadConvolution(keras.layers.Layer):
  """DeepSpeech2's lookahead ("row") convolution: each channel of frame t becomes a learned
  mix of that channel in frames t..t+future (y[t, i] = sum_j w[j, i] x[t + j, i]), giving
  a unidirectional model a bounded view of the future. Frames past an utterance's end are
  zeros (inputs are zero there), so the output of frame t never depends on padding."""

  def __init__(self, future, **kwargs):
    super().__init__(**kwargs)
    self.future = future

  def build(self, input_shape):
    # Starts as the identity (all weight on the current frame): the layer first passes
    # the recurrent outputs through at their scale, and learns how much future to mix in.
    init = np.zeros([self.future + 1, input_shape[-1]], np.float32)
    init[0] = 1.0
    self.kernel = self.add_weight(shape=init.shape, initializer=keras.initializers.Constant(
        init), name="kernel")
    self.built = True

  def call(self, x):
    """x [b, t, d] (zeros after each utterance's end) -> [b, t, d]."""
    return self.mix(tf.pad(x, [[0, 0], [0, self.future], [0, 0]]))

  def mix(self, padded):
    """[b, t + future, d] -> [b, t, d]: the output of the first t frames, given their
    `future` following frames."""
    kernel = tf.cast(self.kernel, padded.dtype)
    length = tf.shape(padded)[1] - self.future
    return tf.add_n([padded[:, j:j + length] * kernel[j] for j in range(self.future + 1)])


def pad_input(x, padding):
  """x [n, h, w, c] with `padding` (pad_h, pad_w) zeros on both sides of h and w."""
  pad_h, pad_w = padding
  if not pad_h and not pad_w:
    return x
  return tf.pad(x, [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]])


def conv2d(x, kernel, strides, padding=(0, 0)):
  """A convolution with `padding` (pad_h, pad_w) zeros on both sides of each spatial axis
  (no padding: conv2d_valid)."""
  return conv2d_valid(pad_input(x, padding), kernel, strides)
