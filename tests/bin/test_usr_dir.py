"""A user's own problem, model and hparams set, registered from --t2t_usr_dir."""
import textwrap

import pytest

from tests.bin.helpers import run

pytestmark = pytest.mark.slow

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
from t2t_lite import registry
from t2t_lite.hparams.common_hparams import basic_params1
from t2t_lite.layers import common
from t2t_lite.t2t_model import T2TModel


@registry.register_model
class GRUSeq2seq(T2TModel):
  """Encoder GRU state initializes a decoder GRU (no attention)."""

  def __init__(self, hparams, **kwargs):
    super().__init__(hparams, **kwargs)
    self.embed = keras.layers.Embedding(hparams.target_vocab_size, hparams.hidden_size)
    self.encoder = keras.layers.GRU(hparams.hidden_size)
    self.decoder = keras.layers.GRU(hparams.hidden_size, return_sequences=True)
    self.out = keras.layers.Dense(hparams.target_vocab_size)

  def call(self, features, training=False):
    state = self.encoder(self.embed(features["inputs"]),
                         mask=tf.not_equal(features["inputs"], 0))
    shifted = common.shift_right(features["targets"])
    return self.out(self.decoder(self.embed(shifted), initial_state=state))


@registry.register_hparams
def gru_seq2seq_tiny():
  hp = basic_params1()
  hp.hidden_size = 32
  hp.batch_size = 256
  hp.learning_rate_schedule = "constant"
  hp.learning_rate_constant = 0.01
  return hp
'''


def test_user_problem_and_model_train_and_decode(tmp_path):
  usr = tmp_path / "my_t2t"
  usr.mkdir()
  (usr / "__init__.py").write_text("from . import letters, gru\n")
  (usr / "letters.py").write_text(textwrap.dedent(PROBLEM))
  (usr / "gru.py").write_text(textwrap.dedent(MODEL))
  out = tmp_path / "run"
  common = [f"--t2t_usr_dir={usr}", f"--output_dir={out}"]
  listing = run("t2t-trainer", "--registry_help", f"--t2t_usr_dir={usr}").stdout
  assert "* letter_doubling" in listing and "* gru_seq2seq" in listing
  trained = run("t2t-trainer", "--generate_data", "--problem=letter_doubling",
                "--model=gru_seq2seq", "--hparams_set=gru_seq2seq_tiny", "--train_steps=30",
                "--local_eval_frequency=30", "--log_step_count_steps=10", *common)
  assert "step 30/30" in trained.stdout and "accuracy" in trained.stdout
  (tmp_path / "in.txt").write_text("a b\nc\n")
  decoded = run("t2t-decoder", f"--decode_from_file={tmp_path / 'in.txt'}",
                "--decode_hparams=beam_size=2,extra_length=4", *common)
  lines = decoded.stdout.strip().splitlines()
  assert len(lines) == 2 and all(set(l) <= set("abcdef ") for l in lines)


def test_broken_usr_dir_shows_its_own_traceback(tmp_path):
  usr = tmp_path / "broken_usr"
  usr.mkdir()
  (usr / "__init__.py").write_text("import not_a_module_anywhere\n")
  proc = run("t2t-trainer", "--registry_help", f"--t2t_usr_dir={usr}", check=False)
  assert proc.returncode != 0
  assert "not_a_module_anywhere" in proc.stderr and "__init__.py" in proc.stderr
