"""Ensembles through the search interface, n-best lists, scoring given outputs and the
length normalizations, on small random transformers of different architectures."""
import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import registry, search
from t2t_lite.data.text_encoder import EOS_ID
from t2t_lite.decoding import nbest, scoring
from t2t_lite.decoding.ensemble import Ensemble
from t2t_lite.errors import UserError
from t2t_lite.t2t_model import Search
from t2t_lite.training.trainer import build_model

VOCAB = 12


def _model(overrides, seed):
  import keras
  keras.utils.set_random_seed(seed)
  hp = registry.hparams("transformer_tiny").parse(
      "layer_prepostprocess_dropout=0,attention_dropout=0,relu_dropout=0," + overrides)
  hp.input_vocab_size = hp.target_vocab_size = VOCAB
  model = build_model(registry.model("transformer"), hp)
  model.build_from_features(model.dummy_features(True))
  return model


@pytest.fixture(scope="module")
def models():
  """Two architectures: 1 layer of width 32, and 2 layers of width 16."""
  return (_model("hidden_size=32,filter_size=64,num_heads=2,num_hidden_layers=1", 1),
          _model("hidden_size=16,filter_size=32,num_heads=4,num_hidden_layers=2", 2))


SOURCES = tf.constant([[3, 4, 5, 6, EOS_ID], [7, 8, EOS_ID, 0, 0], [9, 2, 10, EOS_ID, 0]])


def _decode(model, **settings):
  ids, scores = model.predict({"inputs": SOURCES}, Search(extra_length=6, **settings))
  return ids.numpy(), scores.numpy()


@pytest.mark.parametrize("beam_size", [1, 3])
def test_an_ensemble_of_one_decodes_as_its_member(models, beam_size):
  alone, ensembled = _decode(models[0], beam_size=beam_size), _decode(
      Ensemble([models[0]]), beam_size=beam_size)
  np.testing.assert_array_equal(alone[0], ensembled[0])
  np.testing.assert_allclose(alone[1], ensembled[1], rtol=1e-5)


def test_identical_members_decode_greedily_as_either(models):
  twin = _model("hidden_size=32,filter_size=64,num_heads=2,num_hidden_layers=1", 1)
  for a, b in zip(twin.variables, models[0].variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  np.testing.assert_array_equal(_decode(Ensemble([models[0], twin]))[0],
                                _decode(models[0])[0])


def test_two_architectures_beam_search_with_their_caches(models):
  cached = _decode(Ensemble(models), beam_size=4, alpha=0.6)
  uncached = _decode(Ensemble(models), beam_size=4, alpha=0.6, use_cache=False)
  np.testing.assert_array_equal(cached[0], uncached[0])
  np.testing.assert_allclose(cached[1], uncached[1], rtol=1e-4)
  assert not np.array_equal(cached[0], _decode(models[0], beam_size=4, alpha=0.6)[0])


def test_members_must_share_vocabularies(models):
  other = _model("hidden_size=16,filter_size=32,num_heads=2,num_hidden_layers=1", 3)
  other.hparams.target_vocab_size = VOCAB + 1
  with pytest.raises(UserError, match="target_vocab_size=13 but a has 12"):
    Ensemble([models[0], other], names=["a", "b"])


def _strip(row):
  out = []
  for i in row:
    out.append(int(i))
    if i == EOS_ID:
      break
  return [i for i in out if i]


@pytest.mark.parametrize("which", ["model", "ensemble"])
def test_nbest_scores_are_sorted_and_equal_the_teacher_forced_log_probability(models, which):
  model = models[0] if which == "model" else Ensemble(models)
  ids, scores = _decode(model, beam_size=4, length_penalty="none", return_beams=True)
  assert ids.shape[:2] == (3, 4) and scores.shape == (3, 4)
  assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
  best_ids, best_scores = _decode(model, beam_size=4, length_penalty="none")
  np.testing.assert_array_equal(ids[:, 0], best_ids)
  pairs = [(_strip(src), _strip(beam)) for src, beams in zip(SOURCES.numpy(), ids)
           for beam in beams]
  scored = scoring.score_pairs(model, pairs, batch_size=5)
  totals = np.array([total for total, _ in scored]).reshape(3, 4)
  np.testing.assert_allclose(totals, scores, rtol=1e-4, atol=1e-4)
  for (_, target), (total, per_token) in zip(pairs, scored):
    assert len(per_token) == len(target) and total == pytest.approx(sum(per_token))


def test_scores_equal_the_teacher_forced_loss(models):
  """Without label smoothing, the summed loss of a batch is minus its scores' total."""
  model = models[1]
  pairs = [([3, 4, EOS_ID], [5, 6, 7, EOS_ID]), ([8, EOS_ID], [9, EOS_ID])]
  scored = scoring.score_pairs(model, pairs, batch_size=2)
  features = {"inputs": tf.constant([[3, 4, EOS_ID], [8, EOS_ID, 0]]),
              "targets": tf.constant([[5, 6, 7, EOS_ID], [9, EOS_ID, 0, 0]])}
  model.hparams.label_smoothing = 0.0
  loss, tokens = model.loss_sums(model(features), features)
  assert float(tokens) == 6
  assert float(loss) == pytest.approx(-sum(total for total, _ in scored), rel=1e-5)


def test_length_penalties():
  lengths = tf.constant([1.0, 6.0, 11.0])
  np.testing.assert_allclose(search.gnmt_length_penalty(lengths, 1.0), [1.0, 11 / 6, 16 / 6],
                             rtol=1e-6)
  np.testing.assert_allclose(search.power_length_penalty(lengths, 0.5), np.sqrt([1, 6, 11]),
                             rtol=1e-6)
  np.testing.assert_array_equal(search.no_length_penalty(lengths, 2.0), [1.0, 1.0, 1.0])


def test_length_normalization_changes_which_hypothesis_wins():
  # From the start: EOS now (p=.5) or symbol 2 (p=.5); after 2: EOS (p=.4) or 3 (p=.6);
  # after 3: EOS surely. "EOS" has log-probability -0.69, "2 3 EOS" -1.20, "2 EOS" -1.61.
  table = np.full((5, 5), 1e-9)
  table[0, [1, 2]] = [0.5, 0.5]
  table[2, [1, 3]] = [0.4, 0.6]
  table[3, 1] = 1.0
  logp = tf.math.log(tf.constant(table / table.sum(1, keepdims=True), tf.float32))

  def fn(seq, step, state):
    return tf.gather(logp, seq[:, step]), state
  best = {}
  for name, penalty in search.LENGTH_PENALTIES.items():
    ids, _ = search.beam_search(fn, 1, 3, 5, 5, 1.0, {}, length_penalty=penalty)
    best[name] = _strip(ids.numpy()[0, 0])
  # -1.20 / 3 beats -0.69 / 1 only under length ** alpha; ((5 + 3) / 6) ** 1 is too mild.
  assert best == {"gnmt": [EOS_ID], "length": [2, 3, EOS_ID], "none": [EOS_ID]}
  _, scores = search.beam_search(fn, 1, 3, 5, 5, 1.0, {},
                                 length_penalty=search.no_length_penalty)
  np.testing.assert_allclose(scores.numpy()[0], np.log([0.5, 0.5 * 0.6, 0.5 * 0.4]),
                             rtol=1e-5)


def test_nbest_formats_round_trip():
  hypotheses = [[("a b", -1.5), ("a c", -2.25)], [("d", -0.5), ("e", -0.75)]]
  text = nbest.format_nbest(["x y", "z"], hypotheses, "fairseq")
  assert text.splitlines()[:3] == ["S-0\tx y", "H-0\t-1.500000\ta b", "H-0\t-2.250000\ta c"]
  assert nbest.parse_nbest(text) == hypotheses
  text = nbest.format_nbest(["x y", "z"], hypotheses, "opennmt")
  assert text.splitlines()[0] == "-1.500000 ||| a b"
  assert nbest.parse_nbest(text, ("opennmt", 2)) == hypotheses
