"""Word n-gram language models for CTC decoding: estimated here, queried with KenLM.

No pip-installable package estimates n-gram models (KenLM's estimator `lmplz` is a C++
program outside its Python module), so `estimate_arpa` implements interpolated modified
Kneser-Ney smoothing (Chen & Goodman, 1998), the method `lmplz` uses, and writes the
standard ARPA format. Any ARPA file (or KenLM binary) a user already has works the same:
`load` opens it with KenLM's Python module, the field's standard LM query library.

Modified Kneser-Ney, as in lmplz: the highest order keeps raw counts; lower orders count
how many distinct words precede an n-gram (its continuation count), except n-grams that
begin with <s>, which keep raw counts. Each order has three discounts D1, D2, D3+ from its
counts of counts (Y = n1 / (n1 + 2 n2), Dk = k - (k + 1) Y n(k+1) / nk), and

  p(w | h) = (c(h w) - D(c(h w))) / c(h .) + gamma(h) p(w | h')
  gamma(h) = (D1 N1(h .) + D2 N2(h .) + D3+ N3+(h .)) / c(h .)

down to the unigrams, which interpolate with the uniform distribution over the vocabulary
(<unk> included). The ARPA file lists p(w | h) of every seen n-gram and gamma(h) as the
backoff weight of every context. On corpora too small for the counts of counts
(some nk = 0), an order falls back to D = 0.5 for every count.
"""
import collections
import math
import os

from t2t_lite.errors import UserError

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
LN10 = math.log(10.0)


def _discounts(counts):
  """(D1, D2, D3+) of one order from its adjusted counts {ngram: count}."""
  n = collections.Counter(min(c, 4) for c in counts.values())
  n1, n2, n3, n4 = (n[k] for k in (1, 2, 3, 4))
  if min(n1, n2, n3, n4) == 0:
    return 0.5, 0.5, 0.5
  y = n1 / (n1 + 2 * n2)
  discounts = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
  if not all(0 < d <= k for k, d in enumerate(discounts, 1)):
    return 0.5, 0.5, 0.5
  return discounts


def estimate(sentences, order=3):
  """{n: {ngram tuple: (log10 probability, log10 backoff or None)}} of an interpolated
  modified Kneser-Ney model of `sentences` (strings of space-separated words)."""
  if order < 2:  # KenLM's query structures assume at least bigrams
    raise UserError(f"the language model's order must be >= 2, got {order}")
  raw = collections.Counter()
  vocab = set()
  for sentence in sentences:
    words = [BOS] + sentence.split() + [EOS]
    vocab.update(words[1:])
    for n in range(1, order + 1):
      for i in range(len(words) - n + 1):
        raw[tuple(words[i:i + n])] += 1
  if not vocab - {EOS}:
    raise UserError("the language model's text holds no words")
  # Adjusted counts: raw at the highest order and for n-grams starting with <s>,
  # continuation counts (distinct preceding words) below.
  adjusted = {n: collections.Counter() for n in range(1, order + 1)}
  for gram, count in raw.items():
    if len(gram) == order or gram[0] == BOS:
      adjusted[len(gram)][gram] += count
    if len(gram) > 1:  # one more distinct word before gram[1:]
      adjusted[len(gram) - 1][gram[1:]] += 1
  adjusted[1].pop((BOS,), None)
  vocab.add(UNK)
  model = {}
  lower = None  # {word tuple: probability} of the previous order
  for n in range(1, order + 1):
    counts = adjusted[n]
    discounts = _discounts(counts)
    discount = lambda c, d=discounts: d[min(c, 3) - 1]  # noqa: E731
    d1, d2, d3 = discounts
    totals, kinds = collections.Counter(), collections.defaultdict(lambda: [0, 0, 0])
    for gram, count in counts.items():
      totals[gram[:-1]] += count
      kinds[gram[:-1]][min(count, 3) - 1] += 1
    gamma = {h: (d1 * k[0] + d2 * k[1] + d3 * k[2]) / totals[h] for h, k in kinds.items()}
    probs = {}
    if n == 1:
      uniform = 1.0 / len(vocab - {BOS})
      for word in sorted(vocab - {BOS}):
        count = counts.get((word,), 0)
        probs[(word,)] = (max(count - discount(count), 0) / totals[()] if count else 0.0) \
            + gamma[()] * uniform
    else:
      for gram, count in counts.items():
        h = gram[:-1]
        probs[gram] = (count - discount(count)) / totals[h] + gamma[h] * lower[gram[1:]]
    model[n] = {gram: [math.log10(p), None] for gram, p in probs.items()}
    if n == 1:
      model[1][(BOS,)] = [-99.0, None]
    if n > 1:
      for h, g in gamma.items():
        model[n - 1][h][1] = math.log10(g) if g > 0 else -99.0
    lower = dict(probs)
    lower[(BOS,)] = 0.0
  return model


def write_arpa(model, path):
  """Writes estimate()'s model as an ARPA file (atomically)."""
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write("\n\\data\\\n")
    for n in sorted(model):
      f.write(f"ngram {n}={len(model[n])}\n")
    for n in sorted(model):
      f.write(f"\n\\{n}-grams:\n")
      for gram in sorted(model[n]):
        prob, backoff = model[n][gram]
        line = f"{prob:.6f}\t{' '.join(gram)}"
        if backoff is not None:
          line += f"\t{backoff:.6f}"
        f.write(line + "\n")
    f.write("\n\\end\\\n")
  os.replace(tmp, path)
  return path


def estimate_arpa(sentences, path, order=3):
  """Estimates an order-n modified Kneser-Ney model of `sentences` into the ARPA file
  `path`; returns the number of n-grams of each order."""
  model = estimate(sentences, order)
  write_arpa(model, path)
  return {n: len(grams) for n, grams in model.items()}


def load(path):
  """A kenlm.Model of an ARPA or KenLM binary file; UserError when it cannot be read."""
  try:
    import kenlm  # a compiled extension, needed only when decoding with an LM
  except ImportError:
    raise UserError("decoding with a language model needs KenLM's Python module: pip "
                    "install kenlm (or pip install 't2t-lite[speech]')") from None
  path = os.path.expanduser(path)
  if not os.path.isfile(path):
    raise UserError(f"language model {path} does not exist")
  try:
    return kenlm.Model(path)
  except (OSError, RuntimeError) as e:
    raise UserError(f"language model {path} is not an ARPA or KenLM binary file "
                    f"({str(e).strip().splitlines()[0][:120]})") from None


class WordScorer:
  """Natural-log word probabilities from a KenLM model, with the states cached: a beam
  search asks for the same (context, word) many times."""

  def __init__(self, model):
    import kenlm  # load() checked that it imports
    self._kenlm = kenlm
    self.model = model
    self._cache = {}
    self._states = [self._new_state(begin=True)]

  def _new_state(self, begin=False):
    state = self._kenlm.State()
    if begin:
      self.model.BeginSentenceWrite(state)
    return state

  def start(self):
    """The id of the sentence-start context."""
    return 0

  def score(self, context, word):
    """(ln p(word | context), the id of the context after it)."""
    key = (context, word)
    if key not in self._cache:
      out = self._new_state()
      log10 = self.model.BaseScore(self._states[context], word, out)
      self._states.append(out)
      self._cache[key] = (log10 * LN10, len(self._states) - 1)
    return self._cache[key]
