"""Global-batch normalization is Keras' own on one replica (the multi-replica case runs in
tests/models/test_conformance.py, which trains DeepSpeech2 on 2 replicas)."""
import keras
import numpy as np
import tensorflow as tf

from t2t_lite.layers.normalization import GlobalBatchNormalization


def test_one_replica_equals_keras_batch_norm_with_and_without_a_mask():
  x = tf.random.stateless_normal([3, 5, 4], seed=[2, 3])
  mask = tf.sequence_mask([5, 2, 4], 5)
  ours, theirs = GlobalBatchNormalization(), keras.layers.BatchNormalization()
  for kwargs in ({}, {"mask": mask}):
    np.testing.assert_allclose(ours(x, training=True, **kwargs).numpy(),
                               theirs(x, training=True, **kwargs).numpy(), atol=1e-6)
  np.testing.assert_allclose(ours.moving_mean.numpy(), theirs.moving_mean.numpy(), atol=1e-6)
