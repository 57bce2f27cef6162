"""CTC prefix beam search with a word n-gram language model (DeepSpeech2's decoder).

A transcript y of the frames' log-probabilities is scored

    Q(y) = ln p_ctc(y | x) + lm_weight * ln p_lm(words of y) + word_bonus * |words of y|

(Amodei et al., 2016, eq. 2; Hannun et al., 2014). The search is TensorFlow's
CTCBeamSearchDecoder step for step (tensorflow/core/util/ctc/ctc_beam_search.h): each
frame, every prefix in the beam updates its probabilities of ending in a blank and in its
last label (a prefix's probability also flows from its parent when the parent is in the
beam), each prefix grows a child per label (a repeated label only from the parent's
blank-ending paths), and the `beam_size` best prefixes by Q survive. The language model
scores a word when it is complete (at the next word boundary, or at the end, where </s>
is scored too), so lm_weight=0 and word_bonus=0 give tf.nn.ctc_beam_search_decoder's
transcripts.

Words come from the vocabulary's pieces: a character vocabulary separates them with its
space piece; a SentencePiece vocabulary starts each with a piece beginning with U+2581.
"""
import heapq

import numpy as np

from t2t_lite.data.text_encoder import NUM_RESERVED_TOKENS

NEG_INF = -np.inf


class _Prefix:
  __slots__ = ("ids", "parent", "blank", "label", "lm", "lm_state", "word", "words")

  def __init__(self, ids, parent, lm, lm_state, word, words):
    self.ids, self.parent = ids, parent
    self.blank = self.label = NEG_INF
    self.lm, self.lm_state, self.word, self.words = lm, lm_state, word, words

  @property
  def total(self):
    return np.logaddexp(self.blank, self.label)


class Words:
  """How a vocabulary's pieces make words: for each id, whether it starts a new word
  (ending the current one) and the text it adds to the word."""

  def __init__(self, pieces, word_boundary=None):
    self.starts, self.text = [], []
    for i, piece in enumerate(pieces):
      if i < NUM_RESERVED_TOKENS:  # padding (the blank) and EOS are never text
        self.starts.append(False)
        self.text.append("")
      elif word_boundary:  # SentencePiece: a piece with the marker begins a word
        self.starts.append(piece.startswith(word_boundary))
        self.text.append(piece.replace(word_boundary, ""))
      else:  # characters: the space piece separates words
        self.starts.append(piece == " ")
        self.text.append("" if piece == " " else piece)


class LanguageModelSearch:
  """Decodes CTC log-probabilities with a word language model (a WordScorer)."""

  def __init__(self, words, scorer, lm_weight, word_bonus, beam_size):
    self.words, self.scorer = words, scorer
    self.lm_weight, self.word_bonus, self.beam_size = lm_weight, word_bonus, beam_size

  def _finish_word(self, prefix_lm, state, word):
    """(lm score, lm state) after completing `word` ('' completes nothing)."""
    if not word:
      return prefix_lm, state
    log_prob, state = self.scorer.score(state, word)
    return prefix_lm + self.lm_weight * log_prob + self.word_bonus, state

  def _child(self, parent_ids, parent, label):
    c = label
    if self.words.starts[c]:
      lm, state = self._finish_word(parent.lm, parent.lm_state, parent.word)
      return _Prefix(parent_ids + (c,), parent_ids, lm, state, self.words.text[c],
                     parent.words + bool(parent.word))
    return _Prefix(parent_ids + (c,), parent_ids, parent.lm, parent.lm_state,
                   parent.word + self.words.text[c], parent.words)

  def decode(self, log_probs):
    """log_probs [frames, classes] (blank = 0) -> (ids of the best transcript, its Q)."""
    root = _Prefix((), None, 0.0, self.scorer.start(), "", 0)
    root.blank = 0.0
    beams = {(): root}
    # A child's score before its word is scored, plus this, bounds its score after: the
    # LM term lm_weight * ln p is <= 0, the bonus may be positive.
    slack = max(self.word_bonus, 0.0)
    for frame in np.asarray(log_probs, np.float64):
      old = {ids: (p.blank, p.label, p.total) for ids, p in beams.items()}
      for ids, p in beams.items():  # the prefixes already in the beam
        _, label, total = old[ids]
        if ids:
          parent = old.get(ids[:-1])
          if parent is not None:  # paths that reach this prefix's last label now
            same = len(ids) > 1 and ids[-2] == ids[-1]
            label = np.logaddexp(label, parent[0] if same else parent[2])
          p.label = label + frame[ids[-1]]
        p.blank = total + frame[0]
      candidates = [(p.total + p.lm, ids, None, 0.0) for ids, p in beams.items()]
      # No child scoring at most the beam_size-th best of these can enter the beam.
      floor = (sorted(c[0] for c in candidates)[-self.beam_size]
               if len(candidates) >= self.beam_size else NEG_INF)
      for ids, p in beams.items():  # children not yet in the beam
        blank, _, total = old[ids]
        scores = frame[1:] + total
        if ids:
          scores[ids[-1] - 1] = frame[ids[-1]] + blank  # a repeat needs a blank between
        for i in np.flatnonzero(scores + p.lm + slack > floor):
          child = ids + (int(i) + 1,)
          if child not in beams:
            candidates.append((scores[i] + p.lm, child, ids, scores[i]))
      candidates.sort(key=lambda c: -c[0])
      top = []  # a min-heap of the best beam_size (score, order, prefix)
      for order, (bound, ids, parent_ids, label_score) in enumerate(candidates):
        if len(top) == self.beam_size and bound + slack <= top[0][0]:
          break
        if parent_ids is None:
          p, score = beams[ids], bound
        else:
          p = self._child(parent_ids, beams[parent_ids], ids[-1])
          p.label = label_score
          score = label_score + p.lm
        if len(top) < self.beam_size:
          heapq.heappush(top, (score, -order, p))
        elif score > top[0][0]:
          heapq.heapreplace(top, (score, -order, p))
      beams = {p.ids: p for _, _, p in sorted(top, key=lambda t: (-t[0], -t[1]))}
    best, best_score = (), NEG_INF
    for ids, p in beams.items():
      lm, state = self._finish_word(p.lm, p.lm_state, p.word)
      end, _ = self.scorer.score(state, "</s>")
      score = p.total + lm + self.lm_weight * end
      if score > best_score:
        best, best_score = ids, score
    return list(best), float(best_score)
