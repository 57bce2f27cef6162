"""The model conformance suite (as Sonnet 2's): every registered model, and a model
registered from a --t2t_usr_dir, goes through what the engine asks of a model, one test
per model and property, using only what the model declares (hparams, feature specs,
capabilities), so a failure names the model and the property it breaks:

  its weights all reach its checkpoints; training_loss_sums equals loss_sums; eval metric
  sums of two halves of a batch add up to the whole batch's; one training step gives the
  same loss and weights on one device and on 2 logical-CPU mirrored replicas; predict
  under greedy and beam search; an exported SavedModel decodes as the model does; the
  decoder registered for what it emits decodes text; and, where the model declares them,
  streaming in chunks equals the whole utterance, a CTranslate2 export scores as the model
  does, and t2t-benchmark gets a FLOP count.

Each model runs on its registered `<model>_tiny` hparams set, made smaller still where
SHRINK says so (the same code paths, faster).
"""
import json
import subprocess
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import experiment, registry
from t2t_lite.capabilities import (
  BenchmarkShape,
  BenchmarkShapes,
  CTCFrames,
  CTranslate2Export,
  Streaming,
  benchmark_shapes,
)
from t2t_lite.data import problem, text_encoder
from t2t_lite.decoding import decoder
from t2t_lite.search import Search
from t2t_lite.serving import export
from t2t_lite.training.trainer import build_model
from tests.bin import helpers
from tests.usr_dir_example import write_usr_dir

pytestmark = pytest.mark.slow

USR_MODEL = "gru_seq2seq"  # registered by tests/usr_dir_example.py
experiment.load_registrations()
MODELS = sorted({*registry.models.names(), USR_MODEL})
SHRINK = {"transformer": "hidden_size=32,filter_size=64,num_heads=2",
          "deep_speech2": "rnn_hidden_size=16,audio_num_mel_bins=8",
          "gru_seq2seq": "hidden_size=16"}
ENCODER = text_encoder.TokenTextEncoder(
    tokens=text_encoder.RESERVED_TOKENS + [f"t{i}" for i in range(9)])
VOCAB, BATCH, LENGTH = ENCODER.vocab_size, 4, 6


@pytest.fixture(scope="module")
def usr_dir(tmp_path_factory):
  path = write_usr_dir(tmp_path_factory.mktemp("conformance") / "conformance_usr")
  experiment.load_registrations(str(path))
  return path


@pytest.fixture(params=MODELS)
def model_cls(request, usr_dir):
  return registry.model(request.param)


def hparams(model_cls, set_name=None, vocab_size=VOCAB):
  """The model's tiny set (or set_name), dropout off (randomness differs between
  replicas and between two forward passes)."""
  name = model_cls.registry_name()
  hp = registry.hparams(set_name or f"{name}_tiny").parse(SHRINK.get(name, ""))
  benchmark_shapes(model_cls).set_benchmark_vocab(hp, vocab_size)
  for s in model_cls.all_hparam_specs():
    if s.name.endswith("dropout"):
      hp.set_hparam(s.name, 0.0)
  model_cls.validate_hparams(hp)
  return hp


def features_from(spec, rng, batch=BATCH):
  """A batch of the declared features: ids, float features, lengths."""
  out = {}
  for key, s in sorted(spec.items()):
    if s.shape.rank == 0:
      out[key] = np.full([batch], LENGTH, np.int32)
    elif s.dtype == tf.int32:
      ids = rng.integers(2, VOCAB, (batch, LENGTH)).astype(np.int32)
      ids[::2, -2:] = 0  # uneven padding: the replicas hold different token counts
      out[key] = ids
    else:
      out[key] = rng.standard_normal((batch, 2 * LENGTH, *s.shape[1:])).astype(np.float32)
  if "inputs_length" in out:
    out["inputs_length"] = np.array([12, 9, 12, 7][:batch], np.int32)
  return {k: tf.constant(v) for k, v in out.items()}


def built(model_cls, hp):
  keras.utils.set_random_seed(7)
  model = build_model(model_cls, hp)
  model.build_from_features(model.dummy_features(hp.has_inputs))
  return model


def test_every_weight_reaches_its_checkpoints(model_cls, tmp_path):
  hp = hparams(model_cls)
  model = built(model_cls, hp)
  path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
  keras.utils.set_random_seed(8)
  fresh = build_model(model_cls, hp)
  fresh.build_from_features(fresh.dummy_features(hp.has_inputs))
  tf.train.Checkpoint(model=fresh).read(path).assert_existing_objects_matched()
  assert len(fresh.variables) == len(model.variables)
  for a, b in zip(model.variables, fresh.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_training_loss_sums_equal_loss_sums(model_cls):
  hp = hparams(model_cls)
  model = built(model_cls, hp)
  batch = features_from(model_cls.feature_spec(hp), np.random.default_rng(0))
  loss, weight = model.loss_sums(model(batch, training=True), batch)
  training_loss, training_weight = model.training_loss_sums(batch)
  np.testing.assert_allclose(training_loss.numpy(), loss.numpy(), rtol=1e-5)
  np.testing.assert_allclose(training_weight.numpy(), weight.numpy())


def test_eval_metric_sums_of_two_halves_add_up(model_cls):
  hp = hparams(model_cls)
  model = built(model_cls, hp)
  batch = features_from(model_cls.feature_spec(hp), np.random.default_rng(1))
  whole = model.eval_metric_sums(batch)
  halves = [model.eval_metric_sums({k: v[i:i + BATCH // 2] for k, v in batch.items()})
            for i in (0, BATCH // 2)]
  assert whole and set(halves[0]) == set(whole)
  for name, value in whole.items():
    assert np.isfinite(value.numpy()), name
    np.testing.assert_allclose(halves[0][name].numpy() + halves[1][name].numpy(),
                               value.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("beam_size", [1, 2])
def test_predicts_under_search(model_cls, beam_size):
  hp = hparams(model_cls)
  model = built(model_cls, hp)
  decode = features_from(model_cls.decode_feature_spec(hp), np.random.default_rng(2))
  ids, scores = model.predict(decode, Search(beam_size=beam_size, extra_length=3))
  assert ids.shape.rank == 2 and ids.shape[0] == BATCH and ids.dtype == tf.int32
  assert scores.shape == (BATCH,)
  assert ((ids.numpy() >= 0) & (ids.numpy() < hp.target_vocab_size)).all()


def test_savedmodel_export_decodes_as_the_model(model_cls, tmp_path):
  hp = hparams(model_cls)
  model = built(model_cls, hp)
  decode = features_from(model_cls.decode_feature_spec(hp), np.random.default_rng(3))
  search = Search(beam_size=2, extra_length=3)
  export.export(export.PredictServing(model, hp, search), str(tmp_path / "export"))
  served = tf.saved_model.load(str(tmp_path / "export")).signatures["predict"](**decode)
  np.testing.assert_array_equal(served["outputs"].numpy(),
                                model.predict(decode, search)[0].numpy())


class TokenProblem(problem.Problem):
  """A text problem over ENCODER's tokens, without data files."""

  def feature_encoders(self, data_dir):
    return {"inputs": ENCODER, "targets": ENCODER}

  def generate_encoded_samples(self, data_dir, tmp_dir, split):
    return iter(())


def test_the_registered_decoder_decodes(model_cls, tmp_path):
  """A model that emits CTC frames transcribes audio (speech_manifest's decoder); any other
  translates token text."""
  if issubclass(model_cls, CTCFrames):
    task = registry.problem("speech_manifest")
    task.write_vocab(str(tmp_path))
    encoder = task.feature_encoders(str(tmp_path))["targets"]
    hp = hparams(model_cls, vocab_size=encoder.vocab_size)
    inputs = [np.random.default_rng(4).integers(-3000, 3000, 8000).astype(np.int16)]
    alphabet = set(encoder.pieces)
  else:
    task, hp = TokenProblem(), hparams(model_cls)
    inputs, alphabet = ["t3 t4 t5", "t6"], set(ENCODER._tokens)  # pylint: disable=protected-access
  model = built(model_cls, hp)
  decoder_cls = registry.decoders.get(task.emits)
  assert task.decoder_class is decoder_cls
  dhp = decoder_cls.DECODE_HPARAMS(beam_size=2, extra_length=3, batch_size=2)
  dec = decoder_cls(task, model, hp, str(tmp_path), dhp)
  if isinstance(dec, decoder.TextDecoder):
    outputs = dec.decode_lines(inputs)
    assert all(set(o.split()) <= alphabet for o in outputs)
  else:
    outputs = dec.transcribe_waveforms(inputs)
    assert all(set(o.replace(" ", "")) <= alphabet for o in outputs)
  assert len(outputs) == len(inputs)


def test_streaming_in_chunks_equals_the_whole_input(model_cls):
  if not issubclass(model_cls, Streaming):
    pytest.skip(f"{model_cls.registry_name()} does not declare Streaming")
  fitting = registry.hparams_sets_having([s.name for s in model_cls.all_hparam_specs()],
                                         limit=1000)
  streaming_sets = [s for s in fitting if s.endswith("_tiny")
                    and model_cls.streams(registry.hparams(s))]
  assert streaming_sets, "a Streaming model needs a registered *_tiny set that streams"
  hp = hparams(model_cls, streaming_sets[0])
  model = built(model_cls, hp)
  spec = model_cls.decode_feature_spec(hp)["inputs"]
  x = tf.random.normal([1, 23, *spec.shape[1:]], seed=5)
  whole = model({"inputs": x, "inputs_length": tf.constant([23])}).numpy()[0]
  state, pieces = model.initial_stream_state(), []
  for start in range(0, 23, 5):
    logits, state = model.stream(x[:, start:start + 5], state, tf.constant(start + 5 >= 23))
    pieces.append(logits.numpy()[0])
  np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-5)


def test_ctranslate2_export_scores_as_the_model(model_cls, tmp_path):
  if not issubclass(model_cls, CTranslate2Export):
    pytest.skip(f"{model_cls.registry_name()} does not declare CTranslate2Export")
  ctranslate2 = pytest.importorskip("ctranslate2")
  from t2t_lite.serving import ctranslate2_export

  hp = hparams(model_cls)
  model = built(model_cls, hp)
  path = ctranslate2_export.export(model, {"inputs": ENCODER, "targets": ENCODER},
                                   str(tmp_path / "ct2"), log=lambda *_: None)
  sources, targets = [[3, 4, 5], [6, 7]], [[8, 9], [4, 3, 5]]
  eos, width = text_encoder.EOS_ID, 4
  features = {k: tf.constant([r + [eos] + [0] * (width - len(r) - 1) for r in rows])
              for k, rows in (("inputs", sources), ("targets", targets))}
  log_probs = tf.nn.log_softmax(model(features, training=False)).numpy()
  expected = [[log_probs[i, j, t] for j, t in enumerate(row + [eos])]
              for i, row in enumerate(targets)]
  tokens = lambda ids: [ENCODER.decode([i]) for i in ids]  # noqa: E731
  translator = ctranslate2.Translator(path, device="cpu", intra_threads=1)
  results = translator.score_batch([tokens(s) for s in sources], [tokens(t) for t in targets])
  for result, want in zip(results, expected):
    np.testing.assert_allclose(result.log_probs, want, atol=2e-4)


def test_benchmark_counts_its_flops(model_cls):
  if not issubclass(model_cls, BenchmarkShapes):
    pytest.skip(f"{model_cls.registry_name()} does not declare BenchmarkShapes")
  flops = model_cls.train_flops(hparams(model_cls),
                                BenchmarkShape(BATCH, LENGTH, LENGTH, VOCAB, LENGTH))
  assert flops is None or flops > 0


# The CPU must be split into 2 devices before TensorFlow starts: one subprocess trains
# every model a step on one device and on 2 mirrored replicas and prints one JSON line per
# model (its losses and weight difference, or its error), which each model's test reads.
MIRRORED = textwrap.dedent('''
    import json, os, sys, traceback
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from t2t_lite.training import strategies
    mirrored = strategies.make_strategy("mirrored", worker_gpu=2)
    import keras, numpy as np, tensorflow as tf
    from t2t_lite import experiment, registry
    from t2t_lite.training.train_step import TrainStep, mean_per_token
    from tests.models import test_conformance as c
    experiment.load_registrations(sys.argv[1])

    def train_once(model_cls, hp, strategy, batch):
      with strategy.scope():
        model = c.built(model_cls, hp)
        optimizer = keras.optimizers.SGD(learning_rate=0.1)
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False)
      train = TrainStep(strategy, model, optimizer, hp, step, 10)
      it = iter(strategy.experimental_distribute_dataset(
          tf.data.Dataset.from_tensors(batch).repeat()))
      return model, float(mean_per_token(*train.run(it, tf.constant(1))))

    for name in c.MODELS:
      try:
        model_cls = registry.model(name)
        hp = c.hparams(model_cls)
        batch = c.features_from(model_cls.feature_spec(hp), np.random.default_rng(0))
        single, loss = train_once(model_cls, hp, tf.distribute.get_strategy(), batch)
        replicated, loss2 = train_once(model_cls, hp, mirrored, batch)
        differ = [a.path for a, b in zip(single.trainable_variables,
                                         replicated.trainable_variables)
                  if not np.allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)]
        print(json.dumps({"model": name, "loss": loss, "loss2": loss2, "differ": differ}))
      except Exception:  # each model's own failure, reported by its own test
        print(json.dumps({"model": name, "error": traceback.format_exc()}))
''')


@pytest.fixture(scope="module")
def mirrored_runs(usr_dir):
  proc = subprocess.run(helpers.python_c() + [MIRRORED, str(usr_dir)], capture_output=True,
                        text=True, timeout=600)
  runs = {}
  for line in proc.stdout.splitlines():
    if line.startswith("{"):
      run = json.loads(line)
      runs[run["model"]] = run
  return runs, proc.stderr[-3000:]


def test_trains_alike_on_one_device_and_two_replicas(model_cls, mirrored_runs):
  runs, stderr = mirrored_runs
  run = runs.get(model_cls.registry_name())
  assert run is not None, stderr
  assert "error" not in run, run.get("error")
  assert np.isfinite(run["loss"])
  np.testing.assert_allclose(run["loss"], run["loss2"], rtol=1e-5)
  assert run["differ"] == [], "weights that differ after the step"
