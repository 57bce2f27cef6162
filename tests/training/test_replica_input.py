"""Two logical-CPU replicas read their batches through one checkpointable iterator: the
same batches, in the same replicas, as tf.distribute's own iterator, and a restored
iterator goes on where the saved one was (a subprocess: the CPU must be split before
TensorFlow starts)."""
import textwrap

from tests import scripts

SCRIPT = textwrap.dedent('''
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from t2t_lite.training import strategies
    strategy = strategies.make_strategy("mirrored", worker_gpu=2)
    import tensorflow as tf
    from t2t_lite.training import replica_input, runners

    def dataset_fn(context):
      # Batches of different shapes, as length buckets make them.
      ds = tf.data.Dataset.range(40).shuffle(40, seed=1)
      return ds.map(lambda x: tf.fill([1 + x % 3], x)).padded_batch(2, drop_remainder=True)

    def local(per_replica):
      return [v.numpy().tolist() for v in strategy.experimental_local_results(per_replica)]

    ours = runners.Runner(strategy).train_iterator(dataset_fn)
    theirs = iter(strategy.distribute_datasets_from_function(dataset_fn))
    first = [[local(next(it)) for _ in range(3)] for it in (ours, theirs)]

    # Inside a compiled loop, as TrainStep reads it.
    @tf.function  # (a -c script: AutoGraph cannot read it, so a Python loop, unrolled)
    def sum_of_batches(iterator):
      total = tf.constant(0, tf.int64)
      for _ in range(2):
        sums = strategy.run(tf.reduce_sum, args=(next(iterator),))
        total += strategy.reduce("SUM", sums, axis=None)
      return total
    expected_sum = sum(sum(sum(row) for row in batch)
                       for _ in range(2) for batch in local(next(theirs)))
    sums = [int(sum_of_batches(ours)), expected_sum]

    checkpoint = tf.train.Checkpoint(train_input=ours.iterator)
    path = checkpoint.save(sys.argv[1])
    expected = [local(next(ours)) for _ in range(4)]
    restored = runners.Runner(strategy).train_iterator(dataset_fn)
    tf.train.Checkpoint(train_input=restored.iterator).restore(path).assert_consumed()
    print(json.dumps({"first": first, "sums": sums, "after_restore": [
        expected, [local(next(restored)) for _ in range(4)]]}))
''')


def test_replicas_read_what_tf_distribute_would_and_resume_where_they_were(tmp_path):
  out = scripts.run_json(SCRIPT, tmp_path / "ckpt")
  ours, theirs = out["first"]
  assert ours == theirs  # [3 batches][2 replicas][2 rows of 1-3 ids]
  assert len(ours) == 3 and all(len(replicas) == 2 for replicas in ours)
  assert out["sums"][0] == out["sums"][1] > 0  # read inside a tf.function
  expected, restored = out["after_restore"]
  assert restored == expected and len(expected) == 4
