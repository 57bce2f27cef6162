"""--tune_decode_hparams: each distinct search decoded once, scored, the best chosen."""
import types

import pytest

from t2t_lite.decoding import tuning
from t2t_lite.errors import UserError


def test_grids_parse_or_fail_in_one_line():
  assert tuning.parse_grid("0.2, 0.6,1", float, "--tune_alphas") == [0.2, 0.6, 1.0]
  assert tuning.parse_grid("1,4", int, "--tune_beam_sizes") == [1, 4]
  with pytest.raises(UserError, match="--tune_beam_sizes=1,x: expected comma-separated int"):
    tuning.parse_grid("1,x", int, "--tune_beam_sizes")
  with pytest.raises(UserError, match="--tune_alphas is empty"):
    tuning.parse_grid(" , ", float, "--tune_alphas")


def test_length_ratio_counts_words():
  assert tuning.length_ratio(["a b", "c"], ["a b c", "d e f"]) == 0.5
  assert tuning.length_ratio(["a"], [""]) == 1.0  # no reference words: no division by 0


class _Decoder:
  """Outputs whose length grows with alpha: ids 1..n, as text 'w w ...'."""

  def __init__(self, penalty, beam_size, alpha):
    self.words = 1 + int(alpha * 2) if beam_size > 1 and penalty != "none" else 1
    self.encoders = {"targets": types.SimpleNamespace(decode=lambda ids: " ".join(
        "w" for _ in ids))}

  def decode_split(self, split, num_samples):
    return None, [[1, 2, 3]] * num_samples, [[1] * self.words] * num_samples


def test_tune_decodes_each_distinct_search_once_and_picks_the_best():
  made, lines = [], []

  def decoder_for(*search):
    made.append(search)
    return _Decoder(*search)
  # The score: minus the distance of the output length from the reference's (3 words).
  metric = types.SimpleNamespace(higher_is_better=True, compute=lambda h, r: (
      -abs(len(h[0].split()) - len(r[0].split())), None))
  trials, best = tuning.tune(decoder_for, "dev", 2, metric, ["none", "gnmt"], [1, 4],
                             [0.0, 1.0], log=lines.append)
  # Greedy ignores the penalty and alpha, "none" ignores alpha: 1 + 1 + 2 searches.
  assert made == [("none", 1, 0.0), ("none", 4, 0.0), ("gnmt", 4, 0.0), ("gnmt", 4, 1.0)]
  assert [t.score for t in trials] == [-2, -2, -2, 0]
  assert (best.length_penalty, best.beam_size, best.alpha, best.length_ratio) == (
      "gnmt", 4, 1.0, 1.0)
  assert lines[-1] == tuning.format_row(best) == (
      "gnmt                    4   1.00      0.00   1.000")
