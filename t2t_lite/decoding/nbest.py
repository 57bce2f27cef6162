"""n-best lists (--decode_hparams=return_beams=true): every beam of each input, best first,
with its search score (the log-probability divided by the length penalty; with
length_penalty=none, or gnmt and alpha=0, the model's log-probability itself).

  fairseq   fairseq-generate's lines, per input i (0-based):  S-i<TAB>source, then one
            H-i<TAB>score<TAB>hypothesis per beam
  opennmt   OpenNMT-tf's `score ||| hypothesis`, beam_size consecutive lines per input
"""

FORMATS = ("fairseq", "opennmt")


def format_nbest(sources, hypotheses, style="fairseq"):
  """Text of an n-best list: sources[i]'s hypotheses[i] = [(text, score)], best first."""
  lines = []
  for i, (source, beams) in enumerate(zip(sources, hypotheses)):
    if style == "fairseq":
      lines.append(f"S-{i}\t{source}")
      lines += [f"H-{i}\t{score:.6f}\t{text}" for text, score in beams]
    else:
      lines += [f"{score:.6f} ||| {text}" for text, score in beams]
  return "".join(line + "\n" for line in lines)


def parse_nbest(text, style="fairseq"):
  """[[(hypothesis, score)] per input] from an n-best list written in `style`; an input
  of the opennmt style has `beams` lines (pass style=("opennmt", beams))."""
  if style == "fairseq":
    out = []
    for line in text.splitlines():
      kind, _, rest = line.partition("\t")
      if kind.startswith("S-"):
        out.append([])
      elif kind.startswith("H-"):
        score, _, hypothesis = rest.partition("\t")
        out[-1].append((hypothesis, float(score)))
    return out
  _, beams = style
  entries = []
  for line in text.splitlines():
    score, _, hypothesis = line.partition(" ||| ")
    entries.append((hypothesis, float(score)))
  return [entries[i:i + beams] for i in range(0, len(entries), beams)]
