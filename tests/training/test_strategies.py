"""Multi-replica training on logical CPU devices (a subprocess: the CPU must be split
before TensorFlow starts, and this test process has started it long ago)."""
import subprocess
import textwrap

import pytest

from t2t_lite.errors import UserError
from t2t_lite.training import strategies
from tests import scripts
from tests.bin import helpers

SCRIPT = textwrap.dedent('''
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from t2t_lite.training import strategies
    mirrored = strategies.make_strategy("mirrored", worker_gpu=int(sys.argv[1]))
    import numpy as np, tensorflow as tf, keras
    from t2t_lite import experiment, registry
    from t2t_lite.training import learning_rate, optimizers
    from t2t_lite.training.train_step import TrainStep, mean_per_token
    experiment.load_registrations()

    def run(strategy, batch):
      keras.utils.set_random_seed(5)
      hp = registry.hparams("transformer_tiny").parse(
          "hidden_size=32,filter_size=64,num_heads=2,num_hidden_layers=1,"
          "layer_prepostprocess_dropout=0.0,attention_dropout=0.0,relu_dropout=0.0,"
          "clip_grad_norm=1.0")
      hp.input_vocab_size = hp.target_vocab_size = 12
      with strategy.scope():
        model = registry.model("transformer")(hp)
        model.build_from_features({"inputs": tf.ones([1, 1], tf.int32),
                                   "targets": tf.ones([1, 1], tf.int32)})
        opt = optimizers.make_optimizer(hp, learning_rate.FactorSchedule(hp, 100))
        opt.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False)
      train = TrainStep(strategy, model, opt, hp, step, 10)
      ds = tf.data.Dataset.from_tensors(batch).repeat()
      it = iter(strategy.experimental_distribute_dataset(ds))
      losses = [mean_per_token(*train.run(it, tf.constant(1))) for _ in range(3)]
      return losses, [v.numpy() for v in model.trainable_variables]

    rng = np.random.default_rng(0)
    inputs = rng.integers(2, 12, (8, 7)).astype(np.int32)
    targets = rng.integers(2, 12, (8, 6)).astype(np.int32)
    targets[::3, 4:] = 0  # uneven padding: per-replica token counts differ
    batch = {"inputs": tf.constant(inputs), "targets": tf.constant(targets)}
    single = run(tf.distribute.get_strategy(), batch)
    multi = run(mirrored, batch)
    print(json.dumps({"replicas": mirrored.num_replicas_in_sync,
                      "losses": [[float(x) for x in single[0]], [float(x) for x in multi[0]]],
                      "weights": [[w.tolist() for w in single[1]],
                                  [w.tolist() for w in multi[1]]]}))
''')


@pytest.mark.slow
@pytest.mark.parametrize("replicas", [2, 4])
def test_mirrored_matches_single_device_for_the_same_global_batch(replicas):
  out = scripts.run_json(SCRIPT, replicas)
  assert out["replicas"] == replicas and len(out["losses"][0]) == 3
  scripts.assert_trained_alike(out["losses"], out["weights"])


ALL_REDUCE = textwrap.dedent('''
    import json, os, socket, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    s = socket.socket(); s.bind(("localhost", 0)); port = s.getsockname()[1]; s.close()
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{port}"]},
                                          "task": {"type": "worker", "index": 0}})
    import tensorflow as tf
    from t2t_lite.training import strategies
    strategy = strategies.make_strategy(
        "multi_worker_mirrored", all_reduce=strategies.AllReduce(sys.argv[1], 64))
    options = strategy.extended._communication_options
    print(options.implementation.name, options.bytes_per_pack)
    def replica_fn():
      ctx = tf.distribute.get_replica_context()
      return ctx.all_reduce("sum", [tf.ones([40]), tf.ones([3, 5])])
    out = strategy.experimental_local_results(tf.function(lambda: strategy.run(replica_fn))())
    print("SUM", float(tf.reduce_sum(out[0][0])), float(tf.reduce_sum(out[0][1])))
''')


@pytest.mark.parametrize("implementation", ["ring", "nccl"])
def test_all_reduce_sets_multi_worker_communication_options(implementation):
  proc = subprocess.run(helpers.python_c() + [ALL_REDUCE, implementation],
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
  lines = proc.stdout.strip().splitlines()
  assert f"{implementation.upper()} 64" in lines
  assert lines[-1] == "SUM 40.0 15.0"  # packed in 64-byte packs, summed over one worker
  if implementation == "nccl":  # no GPU here: said, and the ring runs instead
    assert any("without GPUs" in line for line in lines)


@pytest.mark.parametrize("strategy,all_reduce,message", [
    ("mirrored", strategies.AllReduce("ring"), "--all_reduce=ring is multi_worker_mirrored's"),
    ("mirrored", strategies.AllReduce("nccl"), "--all_reduce=nccl needs GPUs"),
    ("mirrored", strategies.AllReduce("auto", 1024), "--all_reduce_pack_bytes applies to"),
    ("default", strategies.AllReduce("ring"), "--strategy=default does not all-reduce"),
    ("parameter_server", strategies.AllReduce("auto", 8), "--strategy=parameter_server does"),
])
def test_all_reduce_settings_a_strategy_cannot_use_are_refused(strategy, all_reduce, message):
  with pytest.raises(UserError, match=message):
    strategies.make_strategy(strategy, all_reduce=all_reduce)
