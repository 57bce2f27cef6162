"""A tiny transformer and its TrainStep on fixed batches, for step-level tests."""
import keras
import numpy as np
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.training import learning_rate, optimizers
from t2t_lite.training.train_step import TrainStep, mean_per_token
from t2t_lite.training.trainer import build_model

VOCAB = 12
NO_DROPOUT = ("hidden_size=32,filter_size=64,num_heads=2,num_hidden_layers=1,"
              "layer_prepostprocess_dropout=0.0,attention_dropout=0.0,relu_dropout=0.0")


def make_step(overrides="", optimizer=None, jit_compile=False, max_nonfinite_steps=10,
              seed=5):
  """(model, TrainStep) with weights from `seed`; optimizer: the hparams' one if None."""
  keras.utils.set_random_seed(seed)
  hp = registry.hparams("transformer_tiny").parse(NO_DROPOUT + "," + overrides)
  hp.input_vocab_size = hp.target_vocab_size = VOCAB
  model = build_model(registry.model("transformer"), hp)
  model.build_from_features({"inputs": tf.ones([1, 1], tf.int32),
                             "targets": tf.ones([1, 1], tf.int32)})
  if optimizer is None:
    optimizer = optimizers.make_optimizer(hp, learning_rate.FactorSchedule(hp, 1000))
  optimizer.build(model.trainable_variables)
  global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
  step = TrainStep(tf.distribute.get_strategy(), model, optimizer, hp, global_step,
                   max_nonfinite_steps, jit_compile=jit_compile)
  return model, step


def random_batch(rng, rows, input_length, target_length, pad_every=3):
  """Ids 2..VOCAB-1; every pad_every-th row has its last two targets padded."""
  inputs = rng.integers(2, VOCAB, (rows, input_length)).astype(np.int32)
  targets = rng.integers(2, VOCAB, (rows, target_length)).astype(np.int32)
  targets[::pad_every, -2:] = 0
  return {"inputs": inputs, "targets": targets}


def iterator(batches):
  """Cycles through batches of any shapes."""
  def gen():
    while True:
      yield from batches
  spec = {k: tf.TensorSpec([None, None], tf.int32) for k in ("inputs", "targets")}
  return iter(tf.data.Dataset.from_generator(gen, output_signature=spec))


def pad_and_concat(batches):
  """One batch holding all rows, padded with 0 to the longest lengths."""
  out = {}
  for key in batches[0]:
    length = max(b[key].shape[1] for b in batches)
    out[key] = np.concatenate([np.pad(b[key], [(0, 0), (0, length - b[key].shape[1])])
                               for b in batches])
  return out


def mean_loss(run_result):
  """TrainStep.run's (loss sum, tokens) -> the mean loss per token."""
  return mean_per_token(*run_result)
