"""Algorithmic problems (Tensor2Tensor's names): identity, shift, reverse, sort, addition
and multiplication over binary or decimal symbols.

Samples are generated in-process from a seeded generator, so the same data_dir contents
come out on every machine. Train and dev draw lengths uniformly from 1..train_length (dev
from the same distribution, with another seed); the extra split `dev_long` draws lengths up
to `long_length` for length-generalization studies (`t2t-trainer --eval_split=dev_long`).
"""
import os

import numpy as np
import tensorflow as tf

from t2t_lite import registry
from t2t_lite.data import problem
from t2t_lite.data.text_encoder import (
  EOS_ID,
  NUM_RESERVED_TOKENS,
  RESERVED_TOKENS,
  TokenTextEncoder,
)
from t2t_lite.errors import UserError

DEV_LONG = "dev_long"


class AlgorithmicProblem(problem.Problem):
  """Base: subclasses set num_symbols and implement `generator`."""

  num_symbols = 2
  train_length = 40
  long_length = 400
  train_size = 100000
  dev_size = 10000
  long_size = 1000
  extra_symbols = ()  # operator tokens such as "+", appended after the digits
  dataset_splits = ((problem.TRAIN, 10), (problem.DEV, 1), (DEV_LONG, 1))

  def symbols(self):
    return [str(i) for i in range(self.num_symbols)] + list(self.extra_symbols)

  def vocab_filename(self, data_dir):
    return os.path.join(data_dir, f"vocab.{self.name}.txt")

  def write_vocab(self, data_dir):
    path = self.vocab_filename(data_dir)
    if not tf.io.gfile.exists(path):
      TokenTextEncoder(tokens=RESERVED_TOKENS + self.symbols()).store_to_file(path)

  def feature_encoders(self, data_dir):
    encoder = TokenTextEncoder(self.vocab_filename(data_dir))
    expected = RESERVED_TOKENS + self.symbols()
    if encoder.vocab_size != len(expected):
      raise UserError(f"vocabulary {self.vocab_filename(data_dir)} has {encoder.vocab_size} "
                      f"tokens but {self.name} needs {len(expected)}; delete the data_dir "
                      "and regenerate")
    return {"inputs": encoder, "targets": encoder}

  def generator(self, rng, max_length, num_cases):
    """Yields {"inputs": [symbol ints], "targets": [symbol ints]}, symbols in 0..n-1."""
    raise NotImplementedError

  def split_spec(self, split):
    """(max_length, num_cases, seed) of a split."""
    return {problem.TRAIN: (self.train_length, self.train_size, 1),
            problem.DEV: (self.train_length, self.dev_size, 2),
            DEV_LONG: (self.long_length, self.long_size, 3)}[split]

  def generate_encoded_samples(self, data_dir, tmp_dir, split):
    max_length, num_cases, seed = self.split_spec(split)
    rng = np.random.default_rng(seed)
    for case in self.generator(rng, max_length, num_cases):
      yield {k: [int(i) + NUM_RESERVED_TOKENS for i in v] + [EOS_ID] for k, v in case.items()}


def _random_sequences(rng, num_symbols, max_length, num_cases):
  for _ in range(num_cases):
    length = int(rng.integers(1, max_length + 1))
    yield rng.integers(0, num_symbols, length).tolist()


class _Identity(AlgorithmicProblem):
  def generator(self, rng, max_length, num_cases):
    for s in _random_sequences(rng, self.num_symbols, max_length, num_cases):
      yield {"inputs": s, "targets": s}


class _Shift(AlgorithmicProblem):
  """Each symbol shifted by `shift` modulo the number of symbols."""
  shift = 10

  def generator(self, rng, max_length, num_cases):
    for s in _random_sequences(rng, self.num_symbols, max_length, num_cases):
      yield {"inputs": s, "targets": [(i + self.shift) % self.num_symbols for i in s]}


class _Reverse(AlgorithmicProblem):
  def generator(self, rng, max_length, num_cases):
    for s in _random_sequences(rng, self.num_symbols, max_length, num_cases):
      yield {"inputs": s, "targets": s[::-1]}


def _digits(n, base):
  """Least-significant digit first, as Tensor2Tensor wrote numbers."""
  out = []
  while True:
    out.append(n % base)
    n //= base
    if n == 0:
      return out


def _number(digits, base):
  return sum(d * base ** i for i, d in enumerate(digits))


class _Arithmetic(AlgorithmicProblem):
  """inputs: n1 <op> n2 (each digits least-significant first); targets: the result.

  Operands have lengths drawn so that the whole input is at most max_length symbols."""
  op_symbol = "+"

  @property
  def extra_symbols(self):
    return (self.op_symbol,)

  def combine(self, a, b):
    raise NotImplementedError

  def generator(self, rng, max_length, num_cases):
    base, op = self.num_symbols, self.num_symbols  # the operator's id follows the digits
    for _ in range(num_cases):
      length1 = int(rng.integers(1, (max_length - 1) // 2 + 1))
      length2 = int(rng.integers(1, (max_length - 1) // 2 + 1))
      n1 = _number(rng.integers(0, base, length1).tolist(), base)
      n2 = _number(rng.integers(0, base, length2).tolist(), base)
      yield {"inputs": _digits(n1, base) + [op] + _digits(n2, base),
             "targets": _digits(self.combine(n1, n2), base)}


class _Addition(_Arithmetic):
  def combine(self, a, b):
    return a + b


class _Multiplication(_Arithmetic):
  op_symbol = "*"

  def combine(self, a, b):
    return a * b


@registry.register_problem
class AlgorithmicIdentityBinary40(_Identity):
  num_symbols = 2


@registry.register_problem
class AlgorithmicIdentityDecimal40(_Identity):
  num_symbols = 10


@registry.register_problem
class AlgorithmicShiftDecimal40(_Shift):
  num_symbols = 20
  shift = 10


@registry.register_problem
class AlgorithmicReverseBinary40(_Reverse):
  num_symbols = 2


@registry.register_problem
class AlgorithmicReverseDecimal40(_Reverse):
  num_symbols = 10


@registry.register_problem
class AlgorithmicAdditionBinary40(_Addition):
  num_symbols = 2


@registry.register_problem
class AlgorithmicAdditionDecimal40(_Addition):
  num_symbols = 10


@registry.register_problem
class AlgorithmicMultiplicationBinary40(_Multiplication):
  num_symbols = 2


@registry.register_problem
class AlgorithmicMultiplicationDecimal40(_Multiplication):
  num_symbols = 10


@registry.register_problem
class AlgorithmicSortProblem(AlgorithmicProblem):
  """Sort a sequence of up to 40 symbols drawn from 0..39 (Tensor2Tensor's symbol count
  is the maximum length, so sorted outputs are not just counts of a few digits)."""
  num_symbols = 40

  def generator(self, rng, max_length, num_cases):
    for s in _random_sequences(rng, self.num_symbols, max_length, num_cases):
      yield {"inputs": s, "targets": sorted(s)}
