"""A t2t-exporter CTranslate2 export (a Translator, or a Generator for a language model)
served through CTranslate2's batched API, with the tokenization t2t_lite.json names:
sentencepiece pieces, bytes as "<0xNN>", characters, or whitespace tokens. No TensorFlow."""
import json
import os

from t2t_lite.errors import UserError
from t2t_lite.serving import engine
from t2t_lite.serving.ctranslate2_export import METADATA_FILE
from t2t_lite.serving.engine import BadInput, Hypothesis, Result
from t2t_lite.serving.server_options import ServeOptions


class Tokenizer:
  """Text <-> the export's token strings, as the t2t_lite encoder it was exported from."""

  def __init__(self, export_dir, description):
    self.type = description["type"]
    if self.type == "sentencepiece":
      import sentencepiece  # optional: only sentencepiece vocabularies need it
      self._sp = sentencepiece.SentencePieceProcessor(
          model_file=os.path.join(export_dir, description["model"]))

  def encode(self, text):
    if self.type == "sentencepiece":
      return self._sp.encode(text, out_type=str)
    if self.type == "bytes":
      return [f"<0x{b:02X}>" for b in text.encode("utf-8")]
    if self.type == "characters":
      return list(text)
    return text.split()

  def decode(self, tokens):
    if self.type == "sentencepiece":
      return self._sp.decode(tokens)
    if self.type == "bytes":
      return bytes(int(t[3:5], 16) for t in tokens
                   if t.startswith("<0x") and len(t) == 6).decode("utf-8", "replace")
    return ("" if self.type == "characters" else " ").join(tokens)


class CTranslate2Engine(engine.Engine):
  kind = "text"

  def __init__(self, export_dir, intra_threads=ServeOptions.intra_threads,
               beam_size=ServeOptions.beam_size, length_penalty=ServeOptions.length_penalty,
               max_decoding_length=ServeOptions.max_decoding_length):
    try:
      import ctranslate2  # the optional [serve] dependency
    except ImportError:
      raise UserError("--engine=ctranslate2 needs the ctranslate2 package: "
                      "pip install 't2t-lite[serve]'") from None
    path = os.path.join(export_dir, METADATA_FILE)
    if not os.path.exists(path):
      raise UserError(f"--export_dir={export_dir} holds no {METADATA_FILE}: give a folder "
                      "t2t-exporter --export_format=ctranslate2 wrote (a SavedModel is "
                      "served with --engine=saved_model)")
    with open(path) as f:
      self._meta = json.load(f)
    tokenizers = self._meta["tokenizers"]
    self._generator = self._meta["runner"] == "Generator"
    runner = ctranslate2.Generator if self._generator else ctranslate2.Translator
    self._model = runner(export_dir, device="cpu", intra_threads=intra_threads,
                         inter_threads=1)
    self._source = Tokenizer(export_dir, tokenizers.get("inputs", tokenizers["targets"]))
    self._target = Tokenizer(export_dir, tokenizers["targets"])
    self.max_n_best = beam_size
    self._search = {"beam_size": beam_size, "length_penalty": length_penalty,
                    "return_scores": True}
    self._max_length = max_decoding_length

  def prepare(self, item):
    tokens = self._source.encode(item)
    if self._generator:
      tokens = [self._meta["start_token"]] + tokens
    if not tokens and not self._generator:
      raise BadInput("an empty sentence")
    return tokens, len(tokens) + (0 if self._generator else 1)  # + the EOS CTranslate2 adds

  def decode(self, payloads, n_best=1):
    if self._generator:
      results = self._model.generate_batch(
          payloads, max_length=self._max_length, include_prompt_in_result=False,
          num_hypotheses=n_best, **self._search)
    else:
      results = self._model.translate_batch(
          payloads, max_decoding_length=self._max_length, num_hypotheses=n_best,
          **self._search)
    out = []
    for r in results:
      sequences = r.sequences if self._generator else r.hypotheses
      hyps = tuple(Hypothesis(self._target.decode(s), float(score))
                   for s, score in zip(sequences, r.scores))
      out.append(Result(hyps[0], hyps if n_best > 1 else (), len(sequences[0])))
    return out

  def warmup_item(self):
    return "warm up"
