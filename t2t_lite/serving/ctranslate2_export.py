"""CTranslate2 exports: a trained model converted through CTranslate2's own model-spec API.

CTranslate2 (OpenNMT's inference engine; int8 on CPU) runs the export with no TensorFlow
and no t2t_lite: a translation model as `ctranslate2.Translator`, a language model as
`ctranslate2.Generator`. The model maps its weights (capabilities.CTranslate2Export); this
module adds what every export shares: the vocabularies as token strings, the special
tokens, the tokenizer a user needs for raw text, weight quantization, and an atomic write.

The export folder holds `model.bin`, `config.json`, the vocabulary (`shared_vocabulary.json`,
or `source_`/`target_vocabulary.json`), `t2t_lite.json` (what was exported and how to
tokenize) and, for sentencepiece vocabularies, the sentencepiece model(s): `sentencepiece.model`
(shared) or `source.sentencepiece.model` / `target.sentencepiece.model`. Tokens are the
vocabulary's own pieces, so

    tokens = sp.encode(text, out_type=str)              # no EOS: the model adds it
    result = translator.translate_batch([tokens])[0]
    sp.decode(result.hypotheses[0])

Tensor2Tensor's conventions, as set here: a source ends with EOS (add_source_eos), the
decoder starts from the padding id 0 (embedded as zeros), and EOS is the reserved id 1.
A language model's prompt starts with the padding token (its start symbol):
`generator.generate_batch([[PAD] + sp.encode(prompt, out_type=str)])`.
"""
import json
import os
import shutil

import tensorflow as tf

from t2t_lite.capabilities import CTranslate2Export
from t2t_lite.data import text_encoder
from t2t_lite.errors import UserError

# Weight types of `spec.optimize(quantization=...)`; "none" keeps float32.
QUANTIZATIONS = ("none", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
                 "float16", "bfloat16")
METADATA_FILE = "t2t_lite.json"


def vocabulary(encoder):
  """(token strings by id, unknown token, tokenization) of a t2t_lite text encoder: what
  the encoder declares (TextEncoder.ctranslate2_vocab)."""
  return encoder.ctranslate2_vocab()


def _check_tokens(tokens, feature):
  if len(set(tokens)) != len(tokens):
    raise UserError(f"the {feature} vocabulary lists a token twice; CTranslate2 maps tokens "
                    "to ids by their text, so it cannot be exported")


def export(model, encoders, export_dir, quantization="none", num_positions=1024,
           metadata=None, log=print):
  """Converts `model` (restored; a translation model when hparams.has_inputs, else a
  language model) with its problem's `encoders` and writes it to export_dir (a temp folder,
  renamed when complete). `metadata` goes into t2t_lite.json. Returns export_dir."""
  if quantization not in QUANTIZATIONS:
    raise UserError(f"--quantization={quantization} must be one of {', '.join(QUANTIZATIONS)}")
  if os.path.exists(export_dir):
    raise UserError(f"{export_dir} already exists; pass another --export_dir or delete it")
  try:
    import ctranslate2  # noqa: F401  (optional: the [serve] extra)
  except ImportError:
    raise UserError("--export_format=ctranslate2 needs the ctranslate2 package: "
                    "pip install 't2t-lite[serve]'") from None
  if not isinstance(model, CTranslate2Export):
    raise UserError(f"model {model.registry_name()} has no CTranslate2 equivalent; export "
                    "it as a SavedModel (--export_format=savedmodel)")
  spec = model.ctranslate2_spec(num_positions)
  has_inputs = model.hparams.has_inputs
  features = ("inputs", "targets") if has_inputs else ("targets",)
  vocab = {f: vocabulary(encoders[f]) for f in features}
  for feature, (tokens, _, _) in vocab.items():
    _check_tokens(tokens, feature)
  target_tokens, target_unk, _ = vocab["targets"]
  pad, eos = target_tokens[text_encoder.PAD_ID], target_tokens[text_encoder.EOS_ID]
  if has_inputs:
    spec.register_source_vocabulary(vocab["inputs"][0])
    spec.register_target_vocabulary(target_tokens)
    if vocab["inputs"][1] != target_unk:
      raise UserError("CTranslate2 has one unknown token for source and target, but the "
                      f"vocabularies' differ ({vocab['inputs'][1]!r}, {target_unk!r})")
    spec.config.add_source_eos = True
    spec.config.decoder_start_token = pad
  else:
    spec.register_vocabulary(target_tokens)
  spec.config.unk_token, spec.config.bos_token, spec.config.eos_token = target_unk, pad, eos
  shared = has_inputs and vocab["inputs"] == vocab["targets"] and (
      vocab["inputs"][2] != "sentencepiece" or
      encoders["inputs"].model_proto == encoders["targets"].model_proto)
  tmp = export_dir.rstrip("/") + ".incomplete"
  if tf.io.gfile.exists(tmp):
    tf.io.gfile.rmtree(tmp)
  os.makedirs(tmp)
  tokenizers = {}
  for feature in features:
    if vocab[feature][2] != "sentencepiece":
      tokenizers[feature] = {"type": vocab[feature][2]}
      continue
    name = ("sentencepiece.model" if shared or not has_inputs else
            f"{'source' if feature == 'inputs' else 'target'}.sentencepiece.model")
    with open(os.path.join(tmp, name), "wb") as f:
      f.write(encoders[feature].model_proto)
    tokenizers[feature] = {"type": "sentencepiece", "model": name}
  spec.validate()
  spec.optimize(quantization=None if quantization == "none" else quantization)
  spec.save(tmp)
  metadata = {"format": "ctranslate2", "quantization": quantization,
              "runner": "Translator" if has_inputs else "Generator",
              "model": model.registry_name(), **(metadata or {}),
              "tokenizers": tokenizers, "add_source_eos": has_inputs,
              "start_token": pad, "eos_token": eos, "max_positions": num_positions}
  with open(os.path.join(tmp, METADATA_FILE), "w") as f:
    json.dump(metadata, f, indent=2)
  if os.path.exists(export_dir):
    shutil.rmtree(tmp)
    raise UserError(f"{export_dir} already exists; pass another --export_dir or delete it")
  os.rename(tmp, export_dir)
  weights = "float32" if quantization == "none" else quantization
  log(f"wrote a CTranslate2 {metadata['runner']} ({weights} weights, "
      f"{directory_bytes(export_dir) / 2 ** 20:.1f} MiB) to {export_dir}")
  return export_dir


def directory_bytes(path):
  """Size on disk of every file under path."""
  return sum(os.path.getsize(os.path.join(root, name))
             for root, _, names in os.walk(path) for name in names)
