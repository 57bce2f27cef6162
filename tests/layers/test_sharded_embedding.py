"""A table split into symbol_modality_num_shards variables trains exactly like one table,
and a lookup reads only the rows it needs (a gather on each shard variable, which runs
where the variable lives: on its parameter server under parameter_server)."""
import keras
import numpy as np
import tensorflow as tf

from t2t_lite import registry


def _model(num_shards):
  hp = registry.hparams("transformer_tiny").parse(
      "hidden_size=16,filter_size=32,num_heads=2,num_hidden_layers=1,"
      "layer_prepostprocess_dropout=0.0,attention_dropout=0.0,relu_dropout=0.0,"
      f"symbol_modality_num_shards={num_shards}")
  hp.input_vocab_size = hp.target_vocab_size = 13
  model = registry.model("transformer")(hp)
  model.build_from_features({"inputs": tf.ones([1, 1], tf.int32),
                             "targets": tf.ones([1, 1], tf.int32)})
  return model


def _others(model):
  shards = {id(s) for s in model.embedding.shards}
  return [v for v in model.trainable_variables if id(v) not in shards]


def _loss_and_grads(model, features):
  with tf.GradientTape() as tape:
    loss_sum, weight = model.loss_sums(model(features, training=True), features)
    loss = loss_sum / weight
  grads = tape.gradient(loss, model.embedding.shards + tuple(_others(model)))
  n = len(model.embedding.shards)
  table_grad = tf.concat([tf.convert_to_tensor(g) for g in grads[:n]], axis=0)
  return float(loss), table_grad.numpy(), [tf.convert_to_tensor(g).numpy() for g in grads[n:]]


def test_sharded_and_unsharded_tables_give_the_same_loss_and_gradients():
  keras.utils.set_random_seed(3)
  single, sharded = _model(1), _model(4)
  assert len(sharded.embedding.shards) == 4
  assert [s.shape[0] for s in sharded.embedding.shards] == [4, 3, 3, 3]
  # The same initial values: copy every weight, and split the one table over the shards.
  for a, b in zip(_others(single), _others(sharded)):
    b.assign(a)
  table = single.embedding.shards[0].numpy()
  start = 0
  for shard in sharded.embedding.shards:
    shard.assign(table[start:start + shard.shape[0]])
    start += shard.shape[0]

  rng = np.random.default_rng(0)
  targets = rng.integers(1, 13, (3, 5)).astype(np.int32)
  targets[0, 3:] = 0
  features = {"inputs": tf.constant(rng.integers(1, 13, (3, 6)), tf.int32),
              "targets": tf.constant(targets)}
  loss_a, table_a, rest_a = _loss_and_grads(single, features)
  loss_b, table_b, rest_b = _loss_and_grads(sharded, features)
  np.testing.assert_allclose(loss_a, loss_b, rtol=1e-6)
  np.testing.assert_allclose(table_a, table_b, rtol=1e-5, atol=1e-7)
  assert np.abs(table_a).sum() > 0
  for a, b in zip(rest_a, rest_b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_a_lookup_gathers_rows_on_each_shard_without_reading_the_table():
  model = _model(3)
  embed = tf.function(model.embedding.embed).get_concrete_function(
      tf.TensorSpec([None, None], tf.int32))
  ops = [op.type for op in embed.graph.get_operations()]
  assert ops.count("ResourceGather") == 3, ops
  assert "ReadVariableOp" not in ops  # no shard is read whole
