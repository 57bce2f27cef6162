"""--effective_batch_size: the same updates (and weight averages) on 1 and on 2
replicas."""
import textwrap

import pytest

from t2t_lite import registry
from t2t_lite.errors import UserError
from t2t_lite.training import effective_batch
from tests import scripts
from tests.training.test_trainer import _trainer, data_dir  # noqa: F401 (fixture)


def test_accumulation_follows_from_replicas_and_batch_size():
  assert effective_batch.accumulation_steps(8192, 2048, 1) == 4
  assert effective_batch.accumulation_steps(8192, 2048, 2) == 2
  assert effective_batch.accumulation_steps(8192, 2048, 8) == 1  # never below one
  assert effective_batch.accumulation_steps(5000, 2048, 1) == 3  # rounded up
  hp = registry.hparams("transformer_tiny").parse("batch_size=1024")
  logs = []
  derived = effective_batch.apply(hp, 3000, 2, logs.append)
  assert derived.gradient_accumulation_steps == 2 and hp.gradient_accumulation_steps == 1
  assert logs[0] == ("effective batch: 4096 tokens per update = 2 replica(s) x batch_size "
                     "1024 x 2 accumulated micro-batch(es) (--effective_batch_size=3000)")
  assert logs[1].startswith("WARNING: --effective_batch_size=3000 is not a multiple")
  assert effective_batch.apply(hp, 0, 2) is hp
  with pytest.raises(UserError, match="sets gradient_accumulation_steps itself"):
    effective_batch.apply(hp.copy().parse("gradient_accumulation_steps=2"), 4096, 1)


def test_the_trainer_steps_with_the_derived_accumulation(data_dir, tmp_path):  # noqa: F811
  trainer, logs = _trainer(data_dir, str(tmp_path / "run"), steps=2,
                           effective_batch_size=1024)  # TINY's batch_size is 256
  assert trainer.step_fn.accumulation_steps == 4
  assert trainer.hparams.gradient_accumulation_steps == 1  # what hparams.json keeps
  assert any(l.startswith("effective batch: 1024 tokens per update = 1 replica(s)")
             for l in logs)
  trainer.restore()
  trainer.train()
  assert int(trainer.global_step.numpy()) == int(trainer.optimizer.iterations.numpy()) == 2


MIRRORED = textwrap.dedent('''
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from t2t_lite.training import strategies
    mirrored = strategies.make_strategy("mirrored", worker_gpu=2)
    import keras, numpy as np, tensorflow as tf
    from t2t_lite import experiment, registry
    from t2t_lite import ema
    from t2t_lite.training import effective_batch, learning_rate, optimizers
    from t2t_lite.training.train_step import TrainStep
    from t2t_lite.training.trainer import build_model
    from tests.training import tiny_step
    experiment.load_registrations()

    def train(strategy, batches, effective):
      """3 updates with the hparams' own optimizer (Adam) and the accumulation that
      --effective_batch_size derives for the strategy's replicas; the weights' moving
      average too (updated in each replica's step)."""
      keras.utils.set_random_seed(5)
      hp = registry.hparams("transformer_tiny").parse(tiny_step.NO_DROPOUT +
                                                      ",batch_size=64,ema_decay=0.5")
      hp.input_vocab_size = hp.target_vocab_size = tiny_step.VOCAB
      hp = effective_batch.apply(hp, effective, strategy.num_replicas_in_sync, print)
      with strategy.scope():
        model = build_model(registry.model("transformer"), hp)
        model.build_from_features({"inputs": tf.ones([1, 1], tf.int32),
                                   "targets": tf.ones([1, 1], tf.int32)})
        optimizer = optimizers.make_optimizer(hp, learning_rate.FactorSchedule(hp, 100))
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False)
        averages = ema.make(model, hp)
      train_step = TrainStep(strategy, model, optimizer, hp, step, 10, ema=averages)
      dataset = tf.data.Dataset.from_tensors(batches[0])
      for batch in batches[1:]:
        dataset = dataset.concatenate(tf.data.Dataset.from_tensors(batch))
      it = iter(strategy.experimental_distribute_dataset(dataset))
      losses = [tiny_step.mean_loss(train_step.run(it, tf.constant(1))) for _ in range(3)]
      return (losses, [v.numpy() for v in model.trainable_variables] +
              [a.numpy() for a in averages.averages], hp)

    rng = np.random.default_rng(0)
    micro = [tiny_step.random_batch(rng, 4, 7, 6, pad_every=k) for k in (2, 3, 1, 2, 3, 1)]
    # One device reads the micro-batches one after another; two replicas read a pair at
    # once (each replica one half of the global batch: one micro-batch).
    one = train(tf.distribute.get_strategy(), micro, effective=128)
    pairs = [tiny_step.pad_and_concat(micro[i:i + 2]) for i in range(0, 6, 2)]
    two = train(mirrored, pairs, effective=128)
    print(json.dumps({
        "accumulation": [run[2].gradient_accumulation_steps for run in (one, two)],
        "losses": [[float(x) for x in run[0]] for run in (one, two)],
        "weights": [[w.tolist() for w in run[1]] for run in (one, two)]}))
''')


@pytest.mark.slow
def test_effective_batch_gives_equal_weights_on_1_and_2_replicas_after_3_steps():
  out = scripts.run_json(MIRRORED)
  # 128 tokens per update: 2 micro-batches of 64 on one device, 1 on each of 2 replicas
  assert out["accumulation"] == [2, 1]
  assert len(out["losses"][0]) == 3
  scripts.assert_trained_alike(out["losses"], out["weights"])  # the averages too
