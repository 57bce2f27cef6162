"""The model conformance suite (as Sonnet 2's): every registered model, and a model
registered from a --t2t_usr_dir, goes through what the engine asks of a model, using only
what the model declares (hparams, feature specs, measurement hooks):

  build; one training step on one device and on 2 logical-CPU mirrored replicas, with
  equal losses and weights; a checkpoint round trip with every variable equal; decoding
  (greedy and beam); an exported SavedModel that decodes as the model does; a FLOP count
  for t2t-benchmark's MFU.

It runs in a subprocess: the CPU must be split into 2 devices before TensorFlow starts.
"""
import subprocess
import sys
import textwrap

import pytest

from tests.usr_dir_example import write_usr_dir

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent('''
    import os, sys, tempfile
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from t2t_lite.training import strategies
    mirrored = strategies.make_strategy("mirrored", worker_gpu=2)
    import keras, numpy as np, tensorflow as tf
    from t2t_lite import experiment, registry
    from t2t_lite.serving import export
    from t2t_lite.t2t_model import BenchmarkShape, Search
    from t2t_lite.training.train_step import TrainStep, mean_per_token
    from t2t_lite.training.trainer import build_model
    experiment.load_registrations(sys.argv[1])

    # The hparams set each model is tested with: every registered model must be listed.
    SETS = {"transformer": ("transformer_tiny", "hidden_size=32,filter_size=64,num_heads=2"),
            "deep_speech2": ("deep_speech2_tiny", "rnn_hidden_size=16,audio_num_mel_bins=8"),
            "gru_seq2seq": ("gru_seq2seq_tiny", "hidden_size=16")}
    assert set(registry.models.names()) == set(SETS), registry.models.names()
    VOCAB, BATCH, LENGTH = 11, 4, 6

    def hparams(name):
      set_name, overrides = SETS[name]
      hp = registry.hparams(set_name).parse(overrides)
      model_cls = registry.model(name)
      model_cls.set_benchmark_vocab(hp, VOCAB)
      for s in model_cls.all_hparam_specs():  # randomness differs between replicas
        if s.name.endswith("dropout"):
          hp.set_hparam(s.name, 0.0)
      model_cls.validate_hparams(hp)
      return hp

    def features_from(spec, rng, lengths=None):
      """A batch of the declared features: ids, float features, lengths."""
      out = {}
      for key, s in sorted(spec.items()):
        if s.shape.rank == 0:
          out[key] = np.full([BATCH], LENGTH, np.int32)
        elif s.dtype == tf.int32:
          ids = rng.integers(2, VOCAB, (BATCH, LENGTH)).astype(np.int32)
          ids[::2, -2:] = 0  # uneven padding: the replicas hold different token counts
          out[key] = ids
        else:
          out[key] = rng.standard_normal((BATCH, 2 * LENGTH, *s.shape[1:])).astype(np.float32)
      if "inputs_length" in out:
        out["inputs_length"] = np.array([12, 9, 12, 7], np.int32)
      return {k: tf.constant(v) for k, v in out.items()}

    def train_once(model_cls, hp, strategy, batch):
      keras.utils.set_random_seed(7)
      with strategy.scope():
        model = build_model(model_cls, hp)
        model.build_from_features(model.dummy_features(hp.has_inputs))
        optimizer = keras.optimizers.SGD(learning_rate=0.1)
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False)
      train = TrainStep(strategy, model, optimizer, hp, step, 10)
      it = iter(strategy.experimental_distribute_dataset(
          tf.data.Dataset.from_tensors(batch).repeat()))
      loss = mean_per_token(*train.run(it, tf.constant(1)))
      return model, loss

    for name in sorted(SETS):
      model_cls, hp = registry.model(name), hparams(name)
      rng = np.random.default_rng(0)
      batch = features_from(model_cls.feature_spec(hp), rng)
      single, loss = train_once(model_cls, hp, tf.distribute.get_strategy(), batch)
      replicated, loss2 = train_once(model_cls, hp, mirrored, batch)
      assert np.isfinite(loss), (name, loss)
      np.testing.assert_allclose(loss, loss2, rtol=1e-5, err_msg=name)
      for a, b in zip(single.trainable_variables, replicated.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)

      path = tf.train.Checkpoint(model=single).write(tempfile.mkdtemp() + "/ckpt")
      fresh = build_model(model_cls, hp)
      fresh.build_from_features(fresh.dummy_features(hp.has_inputs))
      tf.train.Checkpoint(model=fresh).read(path).assert_existing_objects_matched()
      assert len(fresh.variables) == len(single.variables), name
      for a, b in zip(single.variables, fresh.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)

      decode = features_from(model_cls.decode_feature_spec(hp), rng)
      for beam_size in (1, 2):
        ids, scores = single.predict(decode, Search(beam_size=beam_size, extra_length=3))
        assert ids.shape.rank == 2 and ids.shape[0] == BATCH and ids.dtype == tf.int32, name
        assert scores.shape == (BATCH,), name

      search = Search(beam_size=2, extra_length=3)
      export_dir = tempfile.mkdtemp() + "/export"
      export.export(export.PredictServing(single, hp, search), export_dir)
      served = tf.saved_model.load(export_dir).signatures["predict"](**decode)
      np.testing.assert_array_equal(served["outputs"].numpy(),
                                    single.predict(decode, search)[0].numpy(), err_msg=name)

      flops = model_cls.train_flops(hp, BenchmarkShape(BATCH, LENGTH, LENGTH, VOCAB, LENGTH))
      assert flops and flops > 0, name
      print("CONFORMS", name, loss, loss2, flush=True)
''')


def test_every_registered_model_and_a_user_model_conform(tmp_path):
  usr = write_usr_dir(tmp_path / "conformance_usr")
  proc = subprocess.run([sys.executable, "-c", SCRIPT, str(usr)], capture_output=True,
                        text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
  conformed = [line.split()[1] for line in proc.stdout.splitlines()
               if line.startswith("CONFORMS")]
  assert conformed == ["deep_speech2", "gru_seq2seq", "transformer"], proc.stdout
