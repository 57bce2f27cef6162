"""t2t-serve's CTranslate2 engine: the tokenizers t2t_lite.json names, and a small random
Transformer's export searched through it as through CTranslate2 directly."""
import json

import pytest

from t2t_lite.errors import UserError
from t2t_lite.serving import ctranslate2_export
from t2t_lite.serving.ctranslate2_engine import CTranslate2Engine, Tokenizer
from t2t_lite.serving.engine import BadInput
from tests.serving.test_ctranslate2_export import ENCODER, _model

ctranslate2 = pytest.importorskip("ctranslate2")


def test_tokenizers_of_each_vocabulary_kind(tmp_path):
  as_bytes = Tokenizer(str(tmp_path), {"type": "bytes"})
  assert as_bytes.encode("é!") == ["<0xC3>", "<0xA9>", "<0x21>"]
  assert as_bytes.decode(["<0xC3>", "<0xA9>", "</s>", "<0x21>"]) == "é!"
  chars = Tokenizer(str(tmp_path), {"type": "characters"})
  assert chars.encode("a b") == ["a", " ", "b"] and chars.decode(["a", " ", "b"]) == "a b"
  words = Tokenizer(str(tmp_path), {"type": "tokens"})
  assert words.encode(" w1  w2 ") == ["w1", "w2"] and words.decode(["w1", "w2"]) == "w1 w2"


def test_translations_are_ctranslate2s_own(tmp_path):
  export_dir = ctranslate2_export.export(_model(), {"inputs": ENCODER, "targets": ENCODER},
                                         str(tmp_path / "ct2"), log=lambda *_: None)
  engine = CTranslate2Engine(export_dir, intra_threads=1, beam_size=2, length_penalty=0.6,
                             max_decoding_length=6)
  assert (engine.kind, engine.max_n_best) == ("text", 2)
  tokens, length = engine.prepare("w1 w2 w3")
  assert (tokens, length) == (["w1", "w2", "w3"], 4)  # + the EOS CTranslate2 adds
  with pytest.raises(BadInput, match="an empty sentence"):
    engine.prepare("  ")
  translator = ctranslate2.Translator(export_dir, device="cpu", intra_threads=1)
  (want,) = translator.translate_batch([tokens], beam_size=2, length_penalty=0.6,
                                       max_decoding_length=6, num_hypotheses=2,
                                       return_scores=True)
  (got,) = engine.decode([tokens], n_best=2)
  assert [h.text for h in got.n_best] == [" ".join(h) for h in want.hypotheses]
  assert [h.score for h in got.n_best] == pytest.approx(want.scores)
  assert got.best == got.n_best[0] and got.output_tokens == len(want.hypotheses[0])
  (one,) = engine.decode([tokens])
  assert one.best == got.best and one.n_best == ()
  assert json.loads((tmp_path / "ct2" / ctranslate2_export.METADATA_FILE).read_text())[
      "runner"] == "Translator"


def test_an_export_without_t2t_lite_json_is_one_line(tmp_path):
  with pytest.raises(UserError, match="holds no t2t_lite.json: give a folder t2t-exporter "
                                      "--export_format=ctranslate2 wrote"):
    CTranslate2Engine(str(tmp_path))
