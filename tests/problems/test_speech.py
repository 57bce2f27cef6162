import os

import numpy as np
import pytest
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.data import audio, input_pipeline
from t2t_lite.data.speech_encoders import CharacterEncoder, normalize_transcript
from t2t_lite.errors import UserError
from tests import speech_data


def _manifest_problem(corpus, **extra):
  settings = {"train_manifest": corpus["train"], "dev_manifest": corpus["dev"], **extra}
  problem = registry.problem("speech_manifest")
  problem.configure(",".join(f"{k}={v}" for k, v in settings.items()))
  return problem


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  return speech_data.write_corpus(str(tmp_path_factory.mktemp("corpus")), 24, 6)


def test_character_vocabulary():
  enc = CharacterEncoder()
  assert enc.vocab_size == 30  # pad/blank, EOS, space, apostrophe, a-z
  assert normalize_transcript("  HELLO, World!  it's ") == "hello world it's"
  assert enc.decode(enc.encode("Don't stop")) == "don't stop"


def test_manifest_datagen_and_batched_features(corpus, tmp_path):
  problem = _manifest_problem(corpus)
  data_dir = str(tmp_path / "data")
  problem.generate_data(data_dir, log=lambda m: None)
  hp = registry.hparams("deep_speech2_tiny")
  problem.update_hparams(hp, data_dir)
  assert hp.target_vocab_size == 30
  ds = input_pipeline.make_dataset(problem, hp, data_dir, "dev", training=False)
  total, first = 0, None
  for batch in ds:
    first = first or batch
    total += int(batch["inputs"].shape[0])
    lengths = batch["inputs_length"].numpy()
    assert batch["inputs"].shape[1] == lengths.max() and batch["inputs"].shape[2] == 40
  assert total == 6
  # The stored transcript decodes back to the manifest's text.
  texts = [line.split("\t")[1].strip() for line in open(corpus["dev"])]
  raw = next(iter(tf.data.TFRecordDataset(problem.data_files(data_dir, "dev"))))
  example = problem.decode_example(raw)
  assert CharacterEncoder().decode(example["targets"].numpy()) == texts[0]
  wav = os.path.join(os.path.dirname(corpus["dev"]), "wav", "dev_0000.wav")
  assert np.array_equal(example["waveform"].numpy(), audio.read_wav(wav))


def test_sentencepiece_vocabulary_option(corpus, tmp_path):
  problem = _manifest_problem(corpus, vocab="sentencepiece", sentencepiece_vocab_size=20)
  data_dir = str(tmp_path / "sp")
  problem.generate_data(data_dir, log=lambda m: None)
  enc = problem.feature_encoders(data_dir)["targets"]
  assert enc.vocab_size >= 20 and enc.decode(enc.encode("abc de")) == "abc de"
  # The in-graph detokenizer (for WER/CER) agrees with the encoder.
  ids = tf.constant([enc.encode("abc de") + [0, 0]])
  assert problem.detokenizer(data_dir)(ids).numpy()[0].decode() == "abc de"
  with pytest.raises(UserError, match="sentencepiece vocabulary; use another --data_dir"):
    _manifest_problem(corpus).generate_data(data_dir, log=lambda m: None)


def test_manifest_errors_name_the_file_and_line(corpus, tmp_path):
  with pytest.raises(UserError, match="needs its manifests"):
    registry.problem("speech_manifest").generate_data(str(tmp_path / "d0"), log=print)
  with pytest.raises(UserError,
                     match="unknown setting 'train_manifests' in --problem_settings of "
                           "problem speech_manifest"):
    registry.problem("speech_manifest").configure("train_manifests=x")
  folder = os.path.dirname(corpus["train"])
  bad = os.path.join(folder, "bad.tsv")
  with open(bad, "w") as f:
    f.write("wav_path\ttranscript\nwav/train_0000.wav\tab\nwav/nope.wav\tcd\n")
  problem = _manifest_problem({"train": bad, "dev": corpus["dev"]})
  with pytest.raises(UserError) as e:
    problem.generate_data(str(tmp_path / "d1"), log=lambda m: None)
  assert str(e.value) == (f"audio file {os.path.join(folder, 'wav', 'nope.wav')} does not "
                          f"exist (manifest {bad} line 3)")
  with open(bad, "w") as f:
    f.write("wav/train_0000.wav ab\n")
  with pytest.raises(UserError, match="line 1: expected wav_path<TAB>transcript"):
    problem.generate_data(str(tmp_path / "d2"), log=lambda m: None)


def test_librispeech_through_tfds_mock_data(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  problem = registry.problem("librispeech_clean100")
  data_dir = str(tmp_path / "data")
  with tfds.testing.mock_data(num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE):
    problem.generate_data(data_dir, str(tmp_path / "tmp"), log=lambda m: None)
  hp = registry.hparams("deep_speech2_tiny")
  problem.update_hparams(hp, data_dir)
  for split in ("train", "dev"):
    examples = [problem.decode_example(r) for r in
                tf.data.TFRecordDataset(problem.data_files(data_dir, split))]
    assert len(examples) == 3
    assert all(ex["waveform"].dtype == tf.int16 and ex["waveform"].shape[0] > 0
               for ex in examples)
    assert all((ex["targets"].numpy() >= 2).all() for ex in examples)  # chars, no EOS


def _frame_counts(ds, batches):
  """Each batch's utterance lengths in frames (sorted: a batch's order is bucketing's)."""
  it = iter(ds)
  return [sorted(next(it)["inputs_length"].numpy().tolist()) for _ in range(batches)]


def test_speed_perturbation_is_seeded_resumable_and_training_only(corpus, tmp_path):
  problem = _manifest_problem(corpus)
  data_dir = str(tmp_path / "data")
  problem.generate_data(data_dir, log=lambda m: None)
  hp = registry.hparams("deep_speech2_tiny")
  problem.update_hparams(hp, data_dir)
  plain = _frame_counts(input_pipeline.make_dataset(problem, hp, data_dir, "train", True,
                                                    seed=5), 6)
  hp.audio_speed_perturbation = [0.9, 1.0, 1.1]
  assert problem.uses_example_seeds(hp)

  def train(seed=5):
    return input_pipeline.make_dataset(problem, hp, data_dir, "train", True, seed=seed)
  perturbed = _frame_counts(train(), 6)
  assert perturbed != plain  # the same examples, most at another speed
  assert _frame_counts(train(), 6) == perturbed  # the same seed, the same speeds
  assert _frame_counts(train(seed=6), 6) != perturbed
  # Resumed from a checkpoint of the iterator after 2 batches: the same next batches.
  it = iter(train())
  for _ in range(2):
    next(it)
  checkpoint = tf.train.Checkpoint(iterator=it)
  path = checkpoint.save(str(tmp_path / "input" / "ckpt"))
  expected = [sorted(next(it)["inputs_length"].numpy().tolist()) for _ in range(3)]
  resumed = iter(train())
  tf.train.Checkpoint(iterator=resumed).restore(path)
  assert [sorted(next(resumed)["inputs_length"].numpy().tolist())
          for _ in range(3)] == expected
  # Evaluation and decoding never perturb.
  dev = input_pipeline.make_dataset(problem, hp, data_dir, "dev", training=False)
  hp_off = registry.hparams("deep_speech2_tiny")
  problem.update_hparams(hp_off, data_dir)
  dev_plain = input_pipeline.make_dataset(problem, hp_off, data_dir, "dev", training=False)
  for a, b in zip(dev, dev_plain):
    np.testing.assert_array_equal(a["inputs"].numpy(), b["inputs"].numpy())


def test_spec_augment_masks_follow_the_example_seed(corpus, tmp_path):
  problem = _manifest_problem(corpus)
  data_dir = str(tmp_path / "data")
  problem.generate_data(data_dir, log=lambda m: None)
  hp = registry.hparams("deep_speech2_tiny")
  problem.update_hparams(hp, data_dir)
  hp.audio_spec_augment = True
  assert problem.uses_example_seeds(hp)

  def first_batches(seed):
    it = iter(input_pipeline.make_dataset(problem, hp, data_dir, "train", True, seed=seed))
    return [next(it)["inputs"].numpy() for _ in range(3)]
  a, b, other = first_batches(5), first_batches(5), first_batches(6)
  assert all(np.array_equal(x, y) for x, y in zip(a, b))
  assert any((x == 0).sum() for x in a)  # something was masked
  assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, other))
