"""A table split into symbol_modality_num_shards variables trains exactly like one table,
and a lookup reads only the rows it needs (a gather on each shard variable, which runs
where the variable lives: on its parameter server under parameter_server)."""
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import registry
from tests import scripts


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


def test_which_strategies_keep_the_table_in_host_memory():
  from t2t_lite.errors import UserError
  from t2t_lite.layers.modality import host_device
  from t2t_lite.layers.strategy_allows import StrategyAllows, describe
  default = describe(tf.distribute.get_strategy())
  assert host_device(default) == "/cpu:0"  # no strategy: pinned to the host CPU
  cpus = describe(tf.distribute.OneDeviceStrategy("/cpu:0"))
  assert host_device(cpus) is None  # CPU replicas: host memory already
  gpu = describe(tf.distribute.OneDeviceStrategy("/gpu:0"))
  assert gpu.host_placement_refused == "one_device"
  ps = StrategyAllows(conditional_updates=False, custom_ops=False, host_device=None)
  assert host_device(ps) is None  # the ps tasks' memory
  for flag in ("mirrored", "one_device", "multi_worker_mirrored", "tpu"):
    with pytest.raises(UserError, match=f"--strategy={flag} keeps every variable"):
      host_device(StrategyAllows(host_device=None, host_placement_refused=flag))


# The model computes on a second logical CPU, as it would on a GPU: placement=host must pin
# the shards (and the optimizer's slots for them) and their lookups to the host, CPU:0.
HOST_PLACEMENT = textwrap.dedent('''
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from t2t_lite import experiment, registry
    from t2t_lite.training import learning_rate, optimizers
    experiment.load_registrations()

    def run(num_shards, placement):
      keras.utils.set_random_seed(3)
      hp = registry.hparams("transformer_tiny").parse(
          "hidden_size=16,filter_size=32,num_heads=2,num_hidden_layers=1,"
          "layer_prepostprocess_dropout=0.0,attention_dropout=0.0,relu_dropout=0.0,"
          f"symbol_modality_num_shards={num_shards},embedding_placement={placement}")
      hp.input_vocab_size = hp.target_vocab_size = 13
      with tf.device("/cpu:1"):
        model = registry.model("transformer")(hp)
        model.build_from_features({"inputs": tf.ones([1, 1], tf.int32),
                                   "targets": tf.ones([1, 1], tf.int32)})
        opt = optimizers.make_optimizer(hp, learning_rate.FactorSchedule(hp, 100))
        opt.build(model.trainable_variables)
      return model, opt

    single, _ = run(1, "device")
    model, opt = run(4, "host")
    shards = model.embedding.shards
    others = [v for v in model.trainable_variables if all(v is not s for s in shards)]
    slots = [v for v in opt.variables if "symbol_modality" in v.path]
    # Lookups are colocated with their shard; the whole table (decoding's) is joined there.
    table = tf.function(model.embedding.table).get_concrete_function()
    concats = [op.device for op in table.graph.get_operations() if op.type == "ConcatV2"]
    devices = {"shards": [s.value.device[-5:] for s in shards],
               "others": sorted({v.value.device[-5:] for v in others}),
               "slots": [v.value.device[-5:] for v in slots],
               "table_concat": [d[-5:] for d in concats]}

    # The same table split over host shards trains like one table on the device.
    for a, b in zip([v for v in single.trainable_variables if v is not single.embedding.shards[0]],
                    others):
      b.assign(a)
    table = single.embedding.shards[0].numpy()
    start = 0
    for shard in shards:
      shard.assign(table[start:start + shard.shape[0]])
      start += shard.shape[0]
    rng = np.random.default_rng(0)
    features = {"inputs": tf.constant(rng.integers(1, 13, (3, 6)), tf.int32),
                "targets": tf.constant(rng.integers(1, 13, (3, 5)), tf.int32)}
    def loss_and_table_grad(m):
      with tf.device("/cpu:1"), tf.GradientTape() as tape:
        loss_sum, weight = m.loss_sums(m(features, training=True), features)
        loss = loss_sum / weight
      grads = tape.gradient(loss, list(m.embedding.shards))
      return float(loss), tf.concat([tf.convert_to_tensor(g) for g in grads], 0).numpy()
    (la, ga), (lb, gb) = loss_and_table_grad(single), loss_and_table_grad(model)
    print(json.dumps({"devices": devices, "losses": [la, lb],
                      "table_grads": [ga.tolist(), gb.tolist()]}))
''')


def test_host_placement_pins_the_shards_and_their_slots_to_the_host():
  out = scripts.run_json(HOST_PLACEMENT)
  devices = out["devices"]
  assert devices["shards"] == ["CPU:0"] * 4
  assert devices["others"] == ["CPU:1"]  # everything else where the model was built
  assert len(devices["slots"]) >= 8 and set(devices["slots"]) == {"CPU:0"}
  assert devices["table_concat"] == ["CPU:0"]
  # The same table split over host shards trains like one table on the device.
  (la, lb), (ga, gb) = out["losses"], out["table_grads"]
  assert lb == pytest.approx(la, rel=1e-6)
  np.testing.assert_allclose(np.array(gb), np.array(ga), rtol=1e-5, atol=1e-7)
  assert np.array(ga).shape == (13, 16)
