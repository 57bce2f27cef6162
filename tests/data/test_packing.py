import keras
import numpy as np
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.data import packing


def _examples():
  rng = np.random.default_rng(1)
  out = []
  for _ in range(9):
    n_in, n_tgt = rng.integers(1, 6), rng.integers(1, 6)
    out.append({"inputs": rng.integers(2, 20, n_in).astype(np.int32),
                "targets": rng.integers(2, 20, n_tgt).astype(np.int32)})
  return out


def _dataset(examples):
  return tf.data.Dataset.from_generator(
      lambda: iter(examples),
      output_signature={"inputs": tf.TensorSpec([None], tf.int32),
                        "targets": tf.TensorSpec([None], tf.int32)})


def _unpack(row, key):
  """The examples of one packed row: {segment id: tokens}."""
  out = {}
  for tok, seg in zip(row[key], row[key + "_segmentation"]):
    if seg:
      out.setdefault(int(seg), []).append(int(tok))
  return out


def test_rows_hold_whole_examples_in_order_with_restarting_positions():
  examples = _examples()
  rows = list(packing.pack_dataset(_dataset(examples), ["inputs", "targets"], 12)
              .as_numpy_iterator())
  assert len(rows) >= 2
  seen = []
  for row in rows:
    ins, tgts = _unpack(row, "inputs"), _unpack(row, "targets")
    assert sorted(ins) == sorted(tgts) == list(range(1, len(ins) + 1))
    for seg in sorted(ins):
      seen.append((ins[seg], tgts[seg]))
    for key in ("inputs", "targets"):
      seg, pos = row[key + "_segmentation"], row[key + "_position"]
      for s in set(seg[seg > 0]):
        np.testing.assert_array_equal(pos[seg == s], np.arange((seg == s).sum()))
  # Every example but those of the last (unfinished) row, whole and in order.
  assert seen == [(list(e["inputs"]), list(e["targets"])) for e in examples[:len(seen)]]
  assert len(seen) >= len(examples) - 4


def _model():
  hp = registry.hparams("transformer_tiny")
  hp.override_from_dict(dict(input_vocab_size=20, target_vocab_size=20, hidden_size=32,
                             filter_size=64, num_heads=4, num_hidden_layers=2,
                             layer_prepostprocess_dropout=0.0, attention_dropout=0.0,
                             relu_dropout=0.0))
  keras.utils.set_random_seed(5)
  return registry.model("transformer")(hp)


def _padded(examples, key):
  width = max(len(e[key]) for e in examples)
  return tf.constant([list(e[key]) + [0] * (width - len(e[key])) for e in examples])


def test_packed_batch_has_the_loss_and_gradients_of_the_same_examples_unpacked():
  examples = _examples()
  rows = list(packing.pack_dataset(_dataset(examples), ["inputs", "targets"], 12)
              .as_numpy_iterator())
  packed = {k: tf.constant(np.stack([r[k] for r in rows])) for k in rows[0]}
  used = []
  for row in rows:
    ins, tgts = _unpack(row, "inputs"), _unpack(row, "targets")
    used += [{"inputs": ins[s], "targets": tgts[s]} for s in sorted(ins)]
  unpacked = {"inputs": _padded(used, "inputs"), "targets": _padded(used, "targets")}
  model = _model()
  model(unpacked)

  def loss(features):
    with tf.GradientTape() as tape:
      total, count = model.loss_sums(model(features), features)
      mean = total / count
    return float(mean), tape.gradient(mean, model.trainable_variables), float(count)

  loss_p, grads_p, count_p = loss(packed)
  loss_u, grads_u, count_u = loss(unpacked)
  assert count_p == count_u == sum(len(e["targets"]) for e in used)
  np.testing.assert_allclose(loss_p, loss_u, rtol=1e-5)
  for gp, gu in zip(grads_p, grads_u):
    np.testing.assert_allclose(tf.convert_to_tensor(gp).numpy(),
                               tf.convert_to_tensor(gu).numpy(), atol=1e-5)


def test_packed_training_input_is_seeded_and_resumes_where_its_checkpoint_was(tmp_path):
  from t2t_lite import experiment
  from t2t_lite.data import input_pipeline
  from t2t_lite.problems import algorithmic
  cls = algorithmic.AlgorithmicProblem
  old = cls.train_size, cls.dev_size
  cls.train_size, cls.dev_size = 500, 10
  try:
    problem, _, hp = experiment.resolve("algorithmic_reverse_decimal40", "transformer",
                                        "transformer_tiny", "batch_size=256,packed_length=64")
    problem.generate_data(str(tmp_path), log=lambda *_: None)
  finally:
    cls.train_size, cls.dev_size = old

  def batches(iterator, n):
    return [{k: v.numpy() for k, v in next(iterator).items()} for _ in range(n)]

  def fresh():
    return iter(input_pipeline.make_dataset(problem, hp, str(tmp_path), "train", True, seed=7))

  first = fresh()
  head = batches(first, 3)
  assert head[0]["targets"].shape == (4, 64) and head[0]["targets_segmentation"].max() > 1
  ckpt = tf.train.Checkpoint(input=first)
  path = ckpt.save(str(tmp_path / "input"))
  expected = batches(first, 4)
  resumed = fresh()
  tf.train.Checkpoint(input=resumed).restore(path)
  for want, got in zip(expected, batches(resumed, 4)):
    for k in want:
      np.testing.assert_array_equal(want[k], got[k])
  # Same seed, same batches from the start.
  for want, got in zip(head, batches(fresh(), 3)):
    np.testing.assert_array_equal(want["targets"], got["targets"])
