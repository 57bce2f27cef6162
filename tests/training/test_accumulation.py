"""Gradient accumulation: N micro-batches, one update, the loss of one batch holding all."""
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.training.trainer import Trainer, TrainerOptions
from tests import scripts
from tests.training.test_reliability import POISONED, PoisonedTransformer
from tests.training.test_trainer import _trainer, data_dir  # noqa: F401 (fixture)
from tests.training.tiny_step import iterator, make_step, mean_loss, pad_and_concat, random_batch


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_accumulating_micro_batches_equals_one_big_batch(clip):
  rng = np.random.default_rng(0)
  # Different lengths and padding: the token counts of the micro-batches differ.
  micro = [random_batch(rng, 4, 7, 6), random_batch(rng, 3, 5, 9, pad_every=2),
           random_batch(rng, 5, 6, 4, pad_every=1)]
  # Plain SGD: its update is proportional to the gradient, so a wrongly normalized
  # gradient shows (Adam's first step would hide it).
  sgd = lambda: keras.optimizers.SGD(learning_rate=0.5)  # noqa: E731
  common = f"clip_grad_norm={clip}"
  accumulated, acc_step = make_step(common + ",gradient_accumulation_steps=3", sgd())
  single, single_step = make_step(common, sgd())
  initial = [v.numpy() for v in single.trainable_variables]
  for a, b in zip(accumulated.trainable_variables, initial):
    np.testing.assert_array_equal(a.numpy(), b)  # same start

  loss_acc = mean_loss(acc_step.run(iterator(micro), tf.constant(1)))
  loss_one = mean_loss(single_step.run(iterator([pad_and_concat(micro)]), tf.constant(1)))
  assert loss_acc == pytest.approx(loss_one, rel=1e-5)
  for a, b, w in zip(accumulated.trainable_variables, single.trainable_variables, initial):
    np.testing.assert_allclose(a.numpy() - w, b.numpy() - w, rtol=2e-4, atol=1e-6)
  moved = max(float(np.max(np.abs(v.numpy() - w)))
              for v, w in zip(single.trainable_variables, initial))
  assert moved > 1e-3  # the update was not negligible
  # One update, counted once.
  assert int(acc_step.global_step.numpy()) == int(acc_step.optimizer.iterations.numpy()) == 1
  # The accumulators start the next step from zero.
  assert all(not np.any(s.numpy()) for s in acc_step._sums)


def test_trainer_counts_updates_and_skips_a_poisoned_micro_batch(data_dir, tmp_path):  # noqa: F811
  out = str(tmp_path / "run")
  base, logs = _trainer(data_dir, out, ",gradient_accumulation_steps=2", steps=6)
  POISONED.assign(0)
  trainer = Trainer(registry.problem("algorithmic_reverse_decimal40"), PoisonedTransformer,
                    base.hparams, out, data_dir, TrainerOptions(
                        train_steps=6, eval_steps=2, local_eval_frequency=3,
                        log_step_count_steps=1, seed=1, max_nonfinite_steps=5),
                    log=logs.append)
  trainer.restore()
  trainer.train(until_step=2)
  assert int(trainer.global_step.numpy()) == int(trainer.optimizer.iterations.numpy()) == 2
  weights = [v.numpy().copy() for v in trainer.model.trainable_variables]
  POISONED.assign(1)  # the first micro-batch of step 3 has a NaN loss: no update at all
  trainer.train(until_step=3)
  for a, b in zip(weights, trainer.model.trainable_variables):
    np.testing.assert_array_equal(a, b.numpy())
  assert int(trainer.step_fn.nonfinite_total.numpy()) == 1
  assert any("skipped 1 update" in l for l in logs)
  trainer.train()
  assert int(trainer.global_step.numpy()) == 6
  assert int(trainer.optimizer.iterations.numpy()) == 5
  assert any(not np.array_equal(a, b.numpy())
             for a, b in zip(weights, trainer.model.trainable_variables))


MIRRORED = textwrap.dedent('''
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from t2t_lite.training import strategies
    mirrored = strategies.make_strategy("mirrored", worker_gpu=2)
    import keras, numpy as np, tensorflow as tf
    from t2t_lite import experiment
    from t2t_lite.errors import UserError
    from tests.training import tiny_step
    experiment.load_registrations()

    def train(strategy, batches, overrides):
      with strategy.scope():  # make_step builds its TrainStep under this strategy
        model, step = tiny_step.make_step(overrides, keras.optimizers.SGD(learning_rate=0.5))
      dataset = tf.data.Dataset.from_tensors(batches[0])
      for batch in batches[1:]:
        dataset = dataset.concatenate(tf.data.Dataset.from_tensors(batch))
      it = iter(strategy.experimental_distribute_dataset(dataset.repeat()))
      loss = tiny_step.mean_loss(step.run(it, tf.constant(1)))
      return loss, [v.numpy() for v in model.trainable_variables], step

    rng = np.random.default_rng(0)
    a, b = (tiny_step.random_batch(rng, 4, 7, 6, pad_every=k) for k in (2, 3))
    big = tiny_step.pad_and_concat([a, b])  # (each replica gets half of each micro-batch)
    one_device = train(tf.distribute.get_strategy(), [big], "")
    accumulated = train(mirrored, [a, b], "gradient_accumulation_steps=2")
    try:
      with mirrored.scope():
        tiny_step.make_step("", jit_compile=True)
      xla = "accepted"
    except UserError as e:
      xla = str(e)
    print(json.dumps({"losses": [[float(one_device[0])], [float(accumulated[0])]],
                      "weights": [[w.tolist() for w in one_device[1]],
                                  [w.tolist() for w in accumulated[1]]],
                      "global_step": int(accumulated[2].global_step.numpy()), "xla": xla}))
''')


@pytest.mark.slow
def test_mirrored_accumulation_equals_one_device_big_batch():
  out = scripts.run_json(MIRRORED)
  scripts.assert_trained_alike(out["losses"], out["weights"], rtol=2e-4)
  assert out["global_step"] == 1  # two micro-batches, one update
  assert "--xla works with one replica" in out["xla"]
