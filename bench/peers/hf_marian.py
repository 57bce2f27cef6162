"""Peer for bench/quality_compare.py: a Hugging Face MarianMT encoder-decoder from scratch.

Runs inside its own virtualenv (bench/README.md, "Quality comparison"), never t2t_lite's:

  python3 -m venv /work/peers/hf-venv
  /work/peers/hf-venv/bin/pip install torch==2.13.0 transformers sacrebleu sentencepiece

The model is MarianMTModel built from a MarianConfig (post-layer-norm Transformer, sinusoidal
positions, embeddings scaled by sqrt(d), all embeddings and the softmax tied), trained with a
plain PyTorch loop that follows fairseq's transformer_iwslt_de_en recipe, the documented
recipe for a small-data Transformer of this kind: Adam(0.9, 0.98), inverse-sqrt schedule
after a linear warmup, peak learning rate 5e-4, weight decay 1e-4, dropout 0.3,
label-smoothed cross-entropy 0.1 averaged over target tokens, batches of at most
--batch_tokens tokens (examples x the longer padded side, as fairseq's --max-tokens).
Vocabulary: the shared sentencepiece model's ids (pad 0, EOS 1, unk 2), inputs are its
pieces, one sentence a line.

  python hf_marian.py train --sp_model=M --src=train.en.sp --tgt=train.fr.sp --out=DIR \
      --layers=2 --hidden=256 --heads=4 --ff=1024 --batch_tokens=4096 --steps=1200 \
      --warmup=400 --save_every=300
  python hf_marian.py translate --sp_model=M --checkpoint=DIR/step_1200.pt --src=dev.en.sp \
      --out=dev.hyp.sp --beam=4
"""
import argparse
import json
import math
import os
import random
import sys
import time

import sentencepiece as spm
import torch
from transformers import MarianConfig, MarianMTModel

PAD, EOS = 0, 1


def read_ids(path, sp):
  with open(path, encoding="utf-8") as f:
    return [[sp.piece_to_id(p) for p in line.split()] + [EOS] for line in f]


def make_config(args, vocab_size):
  return MarianConfig(
      vocab_size=vocab_size, d_model=args.hidden, encoder_layers=args.layers,
      decoder_layers=args.layers, encoder_attention_heads=args.heads,
      decoder_attention_heads=args.heads, encoder_ffn_dim=args.ff, decoder_ffn_dim=args.ff,
      activation_function="relu", dropout=args.dropout, attention_dropout=args.dropout,
      activation_dropout=args.dropout, max_position_embeddings=1024, scale_embedding=True,
      pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD, forced_eos_token_id=EOS,
      share_encoder_decoder_embeddings=True, tie_word_embeddings=True)


def token_batches(src, tgt, batch_tokens, rng):
  """Index lists of length-sorted examples, each at most batch_tokens padded tokens."""
  order = sorted(range(len(src)), key=lambda i: (max(len(src[i]), len(tgt[i])), i))
  batches, current, longest = [], [], 0
  for i in order:
    n = max(len(src[i]), len(tgt[i]))
    if n > batch_tokens:
      continue
    if current and max(longest, n) * (len(current) + 1) > batch_tokens:
      batches.append(current)
      current, longest = [], 0
    current.append(i)
    longest = max(longest, n)
  if current:
    batches.append(current)
  rng.shuffle(batches)
  return batches


def pad(seqs, value):
  width = max(len(s) for s in seqs)
  return torch.tensor([s + [value] * (width - len(s)) for s in seqs])


def train(args):
  torch.manual_seed(args.seed)
  torch.set_num_threads(args.threads)
  sp = spm.SentencePieceProcessor(model_file=args.sp_model)
  src, tgt = read_ids(args.src, sp), read_ids(args.tgt, sp)
  model = MarianMTModel(make_config(args, sp.get_piece_size()))
  os.makedirs(args.out, exist_ok=True)
  params = sum(p.numel() for p in model.parameters() if p.requires_grad)
  with open(os.path.join(args.out, "params.json"), "w") as f:
    json.dump({"params": params}, f)
  print(f"hf_marian: {params} parameters", flush=True)
  optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-8,
                                weight_decay=args.weight_decay)
  warmup = max(1, args.warmup)
  schedule = torch.optim.lr_scheduler.LambdaLR(
      optimizer, lambda step: min((step + 1) / warmup, math.sqrt(warmup / (step + 1))))
  loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100, label_smoothing=args.label_smoothing)
  rng = random.Random(args.seed)
  step, start = 0, time.time()
  model.train()
  while step < args.steps:
    for batch in token_batches(src, tgt, args.batch_tokens, rng):
      inputs = pad([src[i] for i in batch], PAD)
      labels = pad([tgt[i] for i in batch], -100)
      decoder_inputs = torch.cat(
          [torch.full((len(batch), 1), PAD), labels[:, :-1].clamp(min=0)], dim=1)
      logits = model(input_ids=inputs, attention_mask=(inputs != PAD).long(),
                     decoder_input_ids=decoder_inputs).logits
      loss = loss_fn(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
      optimizer.zero_grad(set_to_none=True)
      loss.backward()
      optimizer.step()
      schedule.step()
      step += 1
      if step % args.log_every == 0:
        print(f"step {step} loss {loss.item():.4f} lr {schedule.get_last_lr()[0]:.2e} "
              f"{time.time() - start:.0f}s", flush=True)
      if step % args.save_every == 0 or step == args.steps:
        path = os.path.join(args.out, f"step_{step}.pt")
        torch.save(model.state_dict(), path + ".tmp")
        os.replace(path + ".tmp", path)
      if step >= args.steps:
        break


def translate(args):
  torch.set_num_threads(args.threads)
  sp = spm.SentencePieceProcessor(model_file=args.sp_model)
  model = MarianMTModel(make_config(args, sp.get_piece_size()))
  model.load_state_dict(torch.load(args.checkpoint, map_location="cpu"))
  model.eval()
  src = read_ids(args.src, sp)
  order = sorted(range(len(src)), key=lambda i: len(src[i]))
  outputs = [None] * len(src)
  with torch.no_grad():
    for k in range(0, len(order), args.batch_size):
      batch = order[k:k + args.batch_size]
      inputs = pad([src[i] for i in batch], PAD)
      generated = model.generate(
          input_ids=inputs, attention_mask=(inputs != PAD).long(), num_beams=args.beam,
          max_new_tokens=inputs.shape[1] + 50, early_stopping=True)
      for i, row in zip(batch, generated.tolist()):
        outputs[i] = " ".join(sp.id_to_piece(t) for t in row if t not in (PAD, EOS))
  with open(args.out, "w", encoding="utf-8") as f:
    f.writelines(line + "\n" for line in outputs)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("mode", choices=["train", "translate"])
  p.add_argument("--sp_model", required=True)
  p.add_argument("--src", required=True)
  p.add_argument("--tgt")
  p.add_argument("--out", required=True)
  p.add_argument("--checkpoint")
  p.add_argument("--layers", type=int, default=2)
  p.add_argument("--hidden", type=int, default=256)
  p.add_argument("--heads", type=int, default=4)
  p.add_argument("--ff", type=int, default=1024)
  p.add_argument("--dropout", type=float, default=0.3)
  p.add_argument("--label_smoothing", type=float, default=0.1)
  p.add_argument("--lr", type=float, default=5e-4)
  p.add_argument("--weight_decay", type=float, default=1e-4)
  p.add_argument("--batch_tokens", type=int, default=4096)
  p.add_argument("--steps", type=int, default=1200)
  p.add_argument("--warmup", type=int, default=400)
  p.add_argument("--save_every", type=int, default=300)
  p.add_argument("--log_every", type=int, default=100)
  p.add_argument("--seed", type=int, default=1234)
  p.add_argument("--threads", type=int, default=2)
  p.add_argument("--beam", type=int, default=4)
  p.add_argument("--batch_size", type=int, default=32)
  args = p.parse_args(argv)
  if args.mode == "train" and not args.tgt:
    p.error("train needs --tgt (the target pieces, line-aligned with --src)")
  if args.mode == "translate" and not args.checkpoint:
    p.error("translate needs --checkpoint (a step_N.pt that train wrote)")
  train(args) if args.mode == "train" else translate(args)
  return 0


if __name__ == "__main__":
  sys.exit(main())
