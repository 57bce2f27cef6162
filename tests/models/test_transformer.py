import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import registry, search, t2t_model
from t2t_lite.search import Search


def _model(**overrides):
  hp = registry.hparams("transformer_tiny")
  hp.input_vocab_size = hp.target_vocab_size = 12
  hp.override_from_dict(overrides)
  tf.keras.utils.set_random_seed(3) if hasattr(tf, "keras") else None
  import keras
  keras.utils.set_random_seed(3)
  model = registry.model("transformer")(hp)
  rng = np.random.default_rng(0)
  inputs = rng.integers(2, 12, (4, 9)).astype(np.int32)
  inputs[1, 6:] = 0  # padding
  inputs[2, 3:] = 0
  model({"inputs": tf.constant(inputs), "targets": tf.constant(inputs)})
  return model, tf.constant(inputs)


def test_forward_shapes_and_padding_invariance():
  model, inputs = _model()
  targets = tf.constant(np.full((4, 5), 3, np.int32))
  logits = model({"inputs": inputs, "targets": targets})
  assert logits.shape == (4, 5, 12)
  # Extra padding on the inputs must not change the outputs.
  padded = tf.pad(inputs, [[0, 0], [0, 4]])
  logits2 = model({"inputs": padded, "targets": targets})
  np.testing.assert_allclose(logits.numpy(), logits2.numpy(), atol=1e-4)


def test_decoder_is_causal():
  model, inputs = _model()
  t1 = tf.constant([[3, 4, 5, 6]] * 4)
  t2 = tf.constant([[3, 4, 9, 9]] * 4)
  l1 = model({"inputs": inputs, "targets": t1}).numpy()
  l2 = model({"inputs": inputs, "targets": t2}).numpy()
  # Position i sees targets < i only (shifted right): positions 0..2 are unchanged.
  np.testing.assert_allclose(l1[:, :3], l2[:, :3], atol=1e-5)
  assert not np.allclose(l1[:, 3], l2[:, 3])


@pytest.mark.parametrize("overrides", [{}, {"shared_embedding_and_softmax_weights": False,
                                             "symbol_modality_num_shards": 3}])
def test_training_loss_and_gradients_equal_the_loss_of_the_logits(overrides):
  # training_loss_sums fuses the softmax with the loss; it must equal loss_sums(call()).
  model, inputs = _model(layer_prepostprocess_dropout=0.0, attention_dropout=0.0,
                         relu_dropout=0.0, **overrides)
  features = {"inputs": inputs, "targets": tf.reverse(inputs, [1])}
  results = []
  for fused in (False, True):
    with tf.GradientTape() as tape:
      loss, tokens = (model.training_loss_sums(features) if fused else
                      model.loss_sums(model(features, training=True), features))
    grads = tape.gradient(loss, model.trainable_variables)
    results.append([loss.numpy(), tokens.numpy()] + [tf.convert_to_tensor(g).numpy()
                                                     for g in grads])
  assert len(results[0]) == 2 + len(model.trainable_variables)
  for got, want in zip(results[1], results[0]):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_embedding_shards_follow_num_shards():
  model, _ = _model(symbol_modality_num_shards=5)
  sizes = [int(w.shape[0]) for w in model.embedding.shards]
  assert sizes == [3, 3, 2, 2, 2] and sum(sizes) == 12


@pytest.mark.parametrize("beam_size", [1, 3])
def test_cached_decoding_equals_uncached(beam_size):
  model, inputs = _model()
  cached = t2t_model.search_decode(
      model, inputs, Search(beam_size=beam_size, extra_length=6, use_cache=True))
  uncached = t2t_model.search_decode(
      model, inputs, Search(beam_size=beam_size, extra_length=6, use_cache=False))
  np.testing.assert_array_equal(cached[0].numpy(), uncached[0].numpy())
  np.testing.assert_allclose(cached[1].numpy(), uncached[1].numpy(), rtol=1e-4, atol=1e-4)


def test_cached_logits_equal_teacher_forced_logits():
  model, inputs = _model()
  fn, state = model.decoding_fn(inputs, 1, 8, use_cache=True)
  seq = np.zeros((4, 9), np.int32)
  seq[:, 1:6] = np.random.default_rng(1).integers(2, 12, (4, 5))
  full = model({"inputs": inputs, "targets": tf.constant(seq[:, 1:6])}).numpy()
  for step in range(5):
    logits, state = fn(tf.constant(seq), tf.constant(step), state)
    np.testing.assert_allclose(logits.numpy(), full[:, step], atol=1e-4)


def test_greedy_equals_beam_search_with_one_beam():
  model, inputs = _model()
  fn, state = model.decoding_fn(inputs, 1, 12)
  greedy_ids, greedy_scores = search.greedy_search(fn, 4, 12, state)
  fn, state = model.decoding_fn(inputs, 1, 12)
  beam_ids, beam_scores = search.beam_search(fn, 4, 1, 12, 12, 0.0, state)
  np.testing.assert_array_equal(greedy_ids.numpy(), beam_ids[:, 0].numpy())
  np.testing.assert_allclose(greedy_scores.numpy(), beam_scores[:, 0].numpy(), rtol=1e-5)


def test_unshared_embeddings_allow_different_vocabularies():
  hp = registry.hparams("transformer_tiny")
  hp.override_from_dict({"input_vocab_size": 20, "target_vocab_size": 7,
                         "shared_embedding_and_softmax_weights": False})
  model = registry.model("transformer")(hp)
  inputs = tf.constant([[19, 5, 1]])
  logits = model({"inputs": inputs, "targets": tf.constant([[3, 6, 1]])})
  assert logits.shape == (1, 3, 7)
  ids, _ = t2t_model.search_decode(model, inputs, Search(beam_size=2, extra_length=3))
  assert ids.shape[0] == 1


@pytest.mark.parametrize("override,message", [
    ("num_heads=3", "divisible"),
    ("pos=sinusoid", "pos"),
    ("label_smoothing=1.0", "label_smoothing"),
    ("attention_dropout=1.0", "attention_dropout"),
    ("length_bucket_step=1.0", "length_bucket_step"),
])
def test_invalid_hparams_are_rejected_before_building(override, message):
  from t2t_lite.errors import UserError
  hp = registry.hparams("transformer_tiny").parse(override)
  with pytest.raises(UserError, match=message):
    registry.model("transformer").validate_hparams(hp)


def test_hparams_set_of_another_model_is_rejected():
  from t2t_lite.errors import UserError
  with pytest.raises(UserError, match="filter_size"):
    registry.model("transformer").validate_hparams(registry.hparams("basic_params1"))
