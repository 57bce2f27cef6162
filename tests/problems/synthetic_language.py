"""A small synthetic language pair for translation tests: not a copy task.

The source is English-like (determiner, optional adjective, noun, verb, determiner,
optional adjective, noun); the target substitutes every word through a fixed dictionary
and reorders: adjectives follow their noun and the verb goes last (SOV). A model must
learn a dictionary and a reordering to translate held-out sentences.
"""
import random

DETERMINERS = ["the", "a", "every"]
NOUNS = ["cat", "dog", "bird", "horse", "teacher", "child", "farmer", "king", "river",
         "house", "tree", "boat", "city", "garden", "window", "letter", "friend", "doctor",
         "song", "apple", "road", "stone", "cloud", "queen"]
ADJECTIVES = ["big", "small", "red", "old", "young", "happy", "quiet", "dark", "green",
              "tall", "cold", "kind"]
VERBS = ["sees", "likes", "finds", "paints", "follows", "helps", "hears", "carries",
         "visits", "draws", "knows", "meets"]


def _target_word(word):
  # A deterministic, distinct "foreign" word: reversed, with a class-specific ending.
  ending = ("o" if word in NOUNS else "i" if word in ADJECTIVES else
            "at" if word in VERBS else "e")
  return word[::-1] + ending


DICTIONARY = {w: _target_word(w) for w in DETERMINERS + NOUNS + ADJECTIVES + VERBS}
assert len(set(DICTIONARY.values())) == len(DICTIONARY)


def _noun_phrase(rng):
  det, noun = rng.choice(DETERMINERS), rng.choice(NOUNS)
  adj = rng.choice(ADJECTIVES) if rng.random() < 0.5 else None
  source = [det] + ([adj] if adj else []) + [noun]
  target = [DICTIONARY[det], DICTIONARY[noun]] + ([DICTIONARY[adj]] if adj else [])
  return source, target


def sentence_pair(rng):
  subject_src, subject_tgt = _noun_phrase(rng)
  object_src, object_tgt = _noun_phrase(rng)
  verb = rng.choice(VERBS)
  source = subject_src + [verb] + object_src
  target = subject_tgt + object_tgt + [DICTIONARY[verb]]
  return " ".join(source), " ".join(target)


def corpus(n, seed):
  """n distinct pairs."""
  rng, pairs, seen = random.Random(seed), [], set()
  while len(pairs) < n:
    pair = sentence_pair(rng)
    if pair[0] not in seen:
      seen.add(pair[0])
      pairs.append(pair)
  return pairs
