import keras
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.decoding import ctc
from t2t_lite.errors import UserError


def _model(hparams_set="deep_speech2_tiny", vocab=30, **overrides):
  hp = registry.hparams(hparams_set).override_from_dict(overrides)
  hp.target_vocab_size = vocab
  keras.utils.set_random_seed(1)
  model = registry.model("deep_speech2")(hp)
  model.build_from_features(model.dummy_features())
  return model


def _params(model):
  return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def test_large_is_sized_like_the_115m_parameter_deep_speech2():
  n = _params(_model("deep_speech2_large"))
  assert abs(n - 115e6) / 115e6 < 0.05, n


def test_base_has_the_benchmark_reference_shape():
  """The same layers and weight shapes as /work/shared/bench/tf_ds2.py (config ds2)."""
  layers = keras.layers
  frames, mels, filters, hidden = 400, 80, 32, 256
  reference = keras.Sequential(
      [keras.Input((frames, mels)), layers.Reshape((frames, mels, 1)),
       layers.Conv2D(filters, (11, 41), strides=(2, 2), padding="same", use_bias=False),
       layers.BatchNormalization(), layers.ReLU(max_value=20.0),
       layers.Conv2D(filters, (11, 21), strides=(1, 2), padding="same", use_bias=False),
       layers.BatchNormalization(), layers.ReLU(max_value=20.0),
       layers.Reshape((frames // 2, (mels // 4) * filters))]
      + [layers.Bidirectional(layers.GRU(hidden, return_sequences=True)) for _ in range(3)]
      + [layers.Dense(30)])
  model = _model("deep_speech2_base")
  shapes = lambda m: sorted(tuple(v.shape) for v in m.trainable_variables)
  assert shapes(model) == shapes(reference)
  assert _params(model) == _params(reference)
  feats = {"inputs": tf.zeros([2, frames, mels]), "inputs_length": tf.constant([400, 400])}
  assert model(feats).shape == (2, frames // 2, 30)


def test_lengths_are_reduced_by_the_striding_and_padding_changes_nothing():
  model = _model(conv_filters=[4, 4], conv_time_kernels=[3, 3], conv_freq_kernels=[3, 3],
                 conv_time_strides=[2, 3], conv_freq_strides=[2, 1])
  lengths = tf.constant([1, 5, 6, 7, 31])
  assert model.output_lengths(lengths).numpy().tolist() == [1, 1, 1, 2, 6]
  x = tf.random.normal([2, 31, 40])
  feats = {"inputs": x, "inputs_length": tf.constant([31, 20])}
  logits = model(feats).numpy()
  assert logits.shape == (2, 6, 30)
  # The second utterance alone (20 frames -> 4 outputs) gives the same first 4 outputs.
  alone = model({"inputs": x[1:, :20], "inputs_length": tf.constant([20])}).numpy()
  np.testing.assert_allclose(logits[1, :4], alone[0], atol=1e-5)


def test_ctc_loss_skips_transcripts_too_long_to_align():
  model = _model()
  feats = {"inputs": tf.random.normal([2, 12, 40]), "inputs_length": tf.constant([12, 12]),
           # 12 frames -> 6 outputs: 3 labels fit; 5 labels with a repeat need 6+... do not.
           "targets": tf.constant([[3, 4, 5, 0, 0, 0, 0], [3, 3, 4, 5, 6, 7, 8]])}
  with tf.GradientTape() as tape:
    logits = model(feats, training=True)
    loss, tokens = model.loss_sums(logits, feats)
  grads = tape.gradient(loss, model.trainable_variables)
  assert float(tokens) == 3 and np.isfinite(float(loss)) and float(loss) > 0
  assert all(np.isfinite(g.numpy()).all() for g in grads)


def test_ctc_greedy_and_beam_decoding():
  # Frames: a a blank a b b (blank) -> "a a b"; the last two frames are padding.
  classes = [3, 3, 0, 3, 4, 4, 5, 5]
  logits = tf.constant([np.eye(6)[classes] * 10.0], tf.float32)
  lengths = tf.constant([6])
  assert ctc.greedy(logits, lengths).numpy().tolist() == [[3, 3, 4]]
  ids, score = ctc.beam_search(logits, lengths, beam_size=4)
  assert ids.numpy().tolist() == [[3, 3, 4]] and float(score[0]) < 0
  # Beam search sums over paths where greedy search takes the single best one: with
  # P(blank)=0.45, P(a)=0.35, P(b)=0.2 in both of two frames, the best path is blank-blank
  # (""), but "a" (a-a, a-blank, blank-a: 0.4375) beats "" (0.2025).
  p = np.log(np.array([[0.45, 1e-9, 1e-9, 0.35, 0.2, 1e-9]] * 2))
  logits = tf.constant([p], tf.float32)
  assert ctc.greedy(logits, tf.constant([2])).numpy().tolist() == [[]]
  assert ctc.beam_search(logits, tf.constant([2]), 8)[0].numpy().tolist() == [[3]]


def test_bad_hparams_are_user_errors():
  hp = registry.hparams("deep_speech2_tiny")
  hp.conv_filters = [8, 8]
  with pytest.raises(UserError, match="one length"):
    registry.model("deep_speech2").validate_hparams(hp)
  hp = registry.hparams("deep_speech2_tiny")
  hp.rnn_norm = "group"
  with pytest.raises(UserError, match="rnn_norm"):
    registry.model("deep_speech2").validate_hparams(hp)
  with pytest.raises(UserError, match="needs the audio hparams"):
    registry.problem("speech_manifest").check_hparams(registry.hparams("transformer_tiny"))


def _streaming_model(**overrides):
  """A small streaming model with two of everything, its batch-norm statistics and
  lookahead weights randomized (so no layer is an identity)."""
  settings = dict(num_rnn_layers=2, conv_filters=[4, 4], conv_time_kernels=[5, 3],
                  conv_freq_kernels=[9, 5], conv_time_strides=[2, 2], conv_freq_strides=[2, 1])
  settings.update(overrides)
  model = _model("deep_speech2_streaming_tiny", **settings)
  for v in model.variables:
    if "moving_mean" in v.path:
      v.assign(tf.random.normal(v.shape, stddev=0.1, seed=2))
    if "moving_variance" in v.path:
      v.assign(tf.random.uniform(v.shape, 0.5, 1.5, seed=3))
    if "lookahead" in v.path:
      v.assign(tf.random.normal(v.shape, seed=4))
  return model


@pytest.mark.parametrize("chunk", [1, 3, 17, 57])
def test_streaming_in_any_chunking_equals_the_whole_utterance(chunk):
  model = _streaming_model()
  x = tf.random.normal([1, 57, 40], seed=5)
  whole = model({"inputs": x, "inputs_length": tf.constant([57])}).numpy()[0]
  state, pieces = model.initial_stream_state(), []
  for start in range(0, 57, chunk):
    logits, state = model.stream(x[:, start:start + chunk], state,
                                 tf.constant(start + chunk >= 57))
    pieces.append(logits.numpy()[0])
  np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-5)


def test_streaming_model_sees_only_lookahead_frames_of_the_future():
  # Output frame t (20 ms: stride 2 x 2 here gives 40 ms) depends on no input frame past
  # its causal convolutions' reach plus the lookahead's 4 output frames.
  model = _streaming_model(lookahead_frames=4)
  x = tf.random.normal([1, 80, 40], seed=6)
  lengths = tf.constant([80])
  base = model({"inputs": x, "inputs_length": lengths}).numpy()[0]
  changed = tf.concat([x[:, :60], tf.random.normal([1, 20, 40], seed=7)], axis=1)
  other = model({"inputs": changed, "inputs_length": lengths}).numpy()[0]
  # Input frame 60 first reaches output frame 60 // 4 = 15, and through the lookahead
  # frames 11..15: frames 0..10 are unchanged, 11 on differ.
  np.testing.assert_array_equal(other[:11], base[:11])
  assert not np.allclose(other[11], base[11])


def test_bidirectional_models_do_not_stream():
  with pytest.raises(UserError, match="streaming needs a causal, left-to-right model"):
    _model().initial_stream_state()


@pytest.mark.parametrize("hparams_set", ["deep_speech2_tiny", "deep_speech2_streaming_tiny"])
def test_cudnn_and_hoisted_kernels_give_equal_outputs_and_gradients(hparams_set):
  """One checkpoint, two implementations: Keras' GRU and conv2d's own gradient (what runs
  cuDNN on a GPU; Keras' generic GRU loop here) against the CPU kernels."""
  hoisted = _model(hparams_set, kernels="hoisted", num_rnn_layers=2)
  cudnn = _model(hparams_set, kernels="cudnn", num_rnn_layers=2)
  for a, b in zip(cudnn.variables, hoisted.variables):
    a.assign(b)
  feats = {"inputs": tf.random.normal([3, 30, 40], seed=8),
           "inputs_length": tf.constant([30, 21, 9]),
           "targets": tf.constant([[3, 4, 5], [6, 7, 0], [8, 0, 0]])}

  def outputs_and_gradients(model):
    with tf.GradientTape() as tape:
      logits = model(feats, training=True)
      loss, _ = model.loss_sums(logits, feats)
    return logits, tape.gradient(loss, model.trainable_variables)
  logits_c, grads_c = outputs_and_gradients(cudnn)
  logits_h, grads_h = outputs_and_gradients(hoisted)
  mask = tf.sequence_mask(hoisted.output_lengths(feats["inputs_length"]), 15)[..., None]
  np.testing.assert_allclose(tf.where(mask, logits_c, 0), tf.where(mask, logits_h, 0),
                             atol=1e-5)
  assert len(grads_c) == len(grads_h) == len(hoisted.trainable_variables)
  for v, a, b in zip(hoisted.trainable_variables, grads_c, grads_h):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4, err_msg=v.path)


def test_few_hours_is_base_with_wider_gru_and_hundreds_hours_is_sized_as_documented():
  few_hours = _params(_model("deep_speech2_few_hours"))
  assert few_hours == _params(_model("deep_speech2_base", rnn_hidden_size=384, rnn_norm="batch"))
  assert abs(few_hours - 8.0e6) / 8.0e6 < 0.01, few_hours
  n = _params(_model("deep_speech2_hundreds_hours"))
  assert abs(n - 21e6) / 21e6 < 0.1, n
