"""A user's own problem and model, as files of a --t2t_usr_dir (test_usr_dir trains and
decodes them through the binaries; models/test_conformance runs the model through the
engine's conformance suite)."""
import textwrap


def write_usr_dir(path):
  """A --t2t_usr_dir package at `path` with the problem and the model."""
  path.mkdir()
  (path / "__init__.py").write_text("from . import letters, gru\n")
  (path / "letters.py").write_text(textwrap.dedent(PROBLEM))
  (path / "gru.py").write_text(textwrap.dedent(MODEL))
  return path


PROBLEM = '''
import numpy as np
from t2t_lite import registry
from t2t_lite.data import problem
from t2t_lite.data.text_encoder import EOS_ID, RESERVED_TOKENS, TokenTextEncoder

LETTERS = list("abcdef")


@registry.register_problem
class LetterDoubling(problem.Problem):
  """Every letter twice: 'a b' -> 'a a b b'."""
  dataset_splits = (("train", 2), ("dev", 1))

  def vocab_file(self, data_dir):
    return data_dir + "/vocab.letters.txt"

  def write_vocab(self, data_dir):
    TokenTextEncoder(tokens=RESERVED_TOKENS + LETTERS).store_to_file(self.vocab_file(data_dir))

  def feature_encoders(self, data_dir):
    enc = TokenTextEncoder(self.vocab_file(data_dir))
    return {"inputs": enc, "targets": enc}

  def generate_encoded_samples(self, data_dir, tmp_dir, split):
    rng = np.random.default_rng(0 if split == "train" else 1)
    enc = self.feature_encoders(data_dir)["inputs"]
    for _ in range(2000 if split == "train" else 100):
      letters = list(rng.choice(LETTERS, rng.integers(1, 6)))
      yield {"inputs": enc.encode(" ".join(letters)) + [EOS_ID],
             "targets": enc.encode(" ".join(l for l in letters for _ in "xx")) + [EOS_ID]}
'''

MODEL = '''
import keras
import tensorflow as tf
from t2t_lite import options, registry
from t2t_lite.hparams.common_hparams import basic_params1
from t2t_lite.layers import common
from t2t_lite.options import setting
from t2t_lite.capabilities import BenchmarkShapes
from t2t_lite.t2t_model import T2TModel


@options.hparams_group("gru_seq2seq")
class GRUSeq2seqHParams(options.HParamsGroup):
  """The model's own hparams (it also reads the shared hidden_size: its GRUs' units)."""
  gru_dropout: float = setting(0.0, "dropout of each GRU's inputs", minimum=0, below=1)


@registry.register_model
class GRUSeq2seq(T2TModel, BenchmarkShapes):
  """Encoder GRU state initializes a decoder GRU (no attention)."""
  HPARAMS = (GRUSeq2seqHParams,)

  def __init__(self, hparams, **kwargs):
    super().__init__(hparams, **kwargs)
    self.embed = keras.layers.Embedding(hparams.target_vocab_size, hparams.hidden_size)
    self.encoder = keras.layers.GRU(hparams.hidden_size, dropout=hparams.gru_dropout)
    self.decoder = keras.layers.GRU(hparams.hidden_size, return_sequences=True,
                                    dropout=hparams.gru_dropout)
    self.out = keras.layers.Dense(hparams.target_vocab_size)

  def call(self, features, training=False):
    state = self.encoder(self.embed(features["inputs"]),
                         mask=tf.not_equal(features["inputs"], 0))
    shifted = common.shift_right(features["targets"])
    return self.out(self.decoder(self.embed(shifted), initial_state=state))

  @classmethod
  def train_flops(cls, hp, shape):
    """3 x forward: GRU gates (input and recurrent matmuls) and the output layer."""
    h, v = hp.hidden_size, hp.target_vocab_size
    gru = 2 * 3 * (2 * h * h)
    return 3 * shape.batch * (shape.src_len * gru + shape.tgt_len * (gru + 2 * h * v))


@registry.register_hparams
def gru_seq2seq_tiny():
  return basic_params1().with_groups(GRUSeq2seqHParams()).replace(
      hidden_size=32, batch_size=256, learning_rate_schedule="constant",
      learning_rate_constant=0.01)
'''
