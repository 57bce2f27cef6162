"""SpeechBrain's from-scratch CTC recipe, trained a fixed number of updates on the files of
bench/speech_compare.py, for the speech quality comparison. Runs under SpeechBrain's own
virtualenv (bench/README.md); t2t_lite never imports it.

It follows recipes/TIMIT/ASR/CTC (hparams/train.yaml and train.py, SpeechBrain 1.1): the
CRDNN (2 VGG-like CNN blocks with frequency pooling, time pooling 2, 4 bidirectional LiGRU
layers, 2 DNN blocks, LeakyReLU, dropout 0.15, channels:LiGRU:DNN as 128:256 to 512:512)
to characters with CTC (blank 0), Fbank features with global InputNormalization, Adadelta
(lr 1.0, rho 0.95, eps 1e-8), gradient norm clipped at 5 (sb.Brain's default), greedy CTC
decoding (CTCBeamSearcher for --beam > 1), and the waveform Augmenter with the original
batch concatenated: speed perturbation (95/100/105%), frequency drop and chunk drop.

Where it departs from the recipe, for the comparison:
  - the CRDNN is scaled (channels R/4, R/2; LiGRU and DNN width R) so that its parameters
    are closest to --target_params (t2t_lite's model);
  - Fbank has the comparison's 80 bins, 25 ms / 10 ms, and t2t_lite's FFT (512) and band
    (20-7600 Hz);
  - batches are SpeechBrain's DynamicBatchSampler with t2t_lite's length buckets and frame
    budget (--bucket_frames, --batch_frames; lengths in 10 ms frames): since the augmenter
    adds a perturbed copy of every utterance, the sampler gets half the budget, and each
    update sees t2t_lite's frames per batch;
  - the recipe's AddNoise is left out (its noise set is a download, and the comparison's
    corpus already holds noisy speech), and so is NewBob annealing on the dev error at each
    epoch's end (the comparison measures dev outside training; over the few epochs of its
    runs NewBob anneals only when dev error stops improving);
  - training stops after --steps updates, with a checkpoint every --save_every;
  - the CRDNN runs in eager mode: the recipe's --jit (TorchScript, "50-60% faster" on a
    GPU) trained about 6x slower per step on this 2-core CPU with batches of varying shapes.

  python speechbrain_ctc.py size --train=train.csv --target_params=4011262 --out=size.json
  python speechbrain_ctc.py train --train=train.csv --out=DIR --steps=600 --save_every=200 \\
      --batch_frames=6400 --bucket_frames=99,119,...,3153,3500 --width=288
  python speechbrain_ctc.py transcribe --checkpoint=DIR/step_600.pt --data=dev.csv \\
      --out=dev.hyp --beam=1

The CSV files (ID, wav, frames, wrd: normalized transcript) are written by speech_compare.py.
"""
import argparse
import csv
import json
import os
import random
import sys

import numpy as np
import speechbrain as sb
import torch
from speechbrain.augment.augmenter import Augmenter
from speechbrain.augment.time_domain import DropChunk, DropFreq, SpeedPerturb
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.dataio.sampler import DynamicBatchSampler
from speechbrain.decoders.ctc import CTCBeamSearcher, ctc_greedy_decode
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.CRDNN import CRDNN
from speechbrain.processing.features import InputNormalization

SAMPLE_RATE = 16000
BLANK = 0


def read_split(path):
  with open(path, newline="", encoding="utf-8") as f:
    return list(csv.DictReader(f))


def features(n_mels):
  return Fbank(sample_rate=SAMPLE_RATE, n_fft=512, n_mels=n_mels, win_length=25,
               hop_length=10, f_min=20, f_max=7600)


def build(width, n_mels, vocab_size):
  """The recipe's modules at LiGRU width `width` (its CNN and DNN sizes in proportion)."""
  model = CRDNN(input_shape=[None, None, n_mels], activation=torch.nn.LeakyReLU,
                dropout=0.15, cnn_blocks=2, cnn_channels=[width // 4, width // 2],
                cnn_kernelsize=(3, 3), time_pooling=True, rnn_class=sb.nnet.RNN.LiGRU,
                rnn_layers=4, rnn_neurons=width, rnn_bidirectional=True, dnn_blocks=2,
                dnn_neurons=width)
  output = sb.nnet.linear.Linear(input_size=width, n_neurons=vocab_size, bias=True)
  return torch.nn.ModuleDict({"model": model, "output": output})


def count_params(modules):
  return sum(p.numel() for p in modules.parameters() if p.requires_grad)


def width_for(target, n_mels, vocab_size):
  """The LiGRU width (a multiple of 8) whose model's parameters are closest to target."""
  best = None
  for width in range(64, 2049, 8):
    params = count_params(build(width, n_mels, vocab_size))
    if best is None or abs(params - target) < abs(best[1] - target):
      best = (width, params)
    if params > target:  # parameters grow with the width
      break
  return best


class Utterances(torch.utils.data.Dataset):
  def __init__(self, rows, labels=None):
    self.rows, self.index = rows, {c: i for i, c in enumerate(labels or [])}

  def __len__(self):
    return len(self.rows)

  def __getitem__(self, i):
    row = self.rows[i]
    item = {"id": row["ID"], "sig": sb.dataio.dataio.read_audio(row["wav"])}
    if self.index:
      item["tokens"] = torch.tensor([self.index[c] for c in row["wrd"]], dtype=torch.long)
    return item


def log_probs(modules, normalize, compute_features, wavs, wav_lens):
  feats = normalize(compute_features(wavs), wav_lens)
  return torch.log_softmax(modules["output"](modules["model"](feats)), dim=-1)


def save(path, modules, normalize, meta):
  torch.save({"modules": modules.state_dict(), "normalize": normalize._statistics_dict(),
              **meta}, path + ".tmp")
  os.replace(path + ".tmp", path)


def labels_of(rows):
  """The recipe's CTCTextEncoder labels: the blank, then every character of the training
  transcripts."""
  return ["<blank>"] + sorted({c for r in rows for c in r["wrd"]})


def size(args):
  labels = labels_of(read_split(args.train))
  width, params = width_for(args.target_params, args.n_mels, len(labels))
  with open(args.out, "w") as f:
    json.dump({"width": width, "params": params, "target_params": args.target_params}, f)
  print(f"CRDNN width {width}: {params} parameters (target {args.target_params}), "
        f"{len(labels)} labels", flush=True)


def train(args):
  random.seed(args.seed)
  np.random.seed(args.seed)
  torch.manual_seed(args.seed)
  rows = read_split(args.train)
  labels = labels_of(rows)
  boundaries = [int(b) for b in args.bucket_frames.split(",")]
  rows = [r for r in rows if int(r["frames"]) <= boundaries[-1]]  # as t2t_lite drops them
  modules = build(args.width, args.n_mels, len(labels))
  os.makedirs(args.out, exist_ok=True)
  meta = {"labels": labels, "width": args.width, "n_mels": args.n_mels}
  with open(os.path.join(args.out, "params.json"), "w") as f:
    json.dump({"params": count_params(modules), **meta}, f)
  normalize = InputNormalization(norm_type="global")
  compute_features = features(args.n_mels)
  augment = Augmenter(concat_original=True, min_augmentations=3, max_augmentations=3,
                      augment_prob=1.0, augmentations=[
                          SpeedPerturb(orig_freq=SAMPLE_RATE, speeds=[95, 100, 105]),
                          DropFreq(drop_freq_low=0, drop_freq_high=1, drop_freq_count_low=1,
                                   drop_freq_count_high=3, drop_freq_width=0.05),
                          DropChunk(drop_length_low=1000, drop_length_high=2000,
                                    drop_count_low=1, drop_count_high=5)])
  optimizer = torch.optim.Adadelta(modules.parameters(), lr=1.0, rho=0.95, eps=1e-8)
  sampler = DynamicBatchSampler(list(range(len(rows))), args.batch_frames // 2,
                                bucket_boundaries=boundaries,
                                lengths_list=[int(r["frames"]) for r in rows],
                                shuffle=True, batch_ordering="random", seed=args.seed)
  loader = torch.utils.data.DataLoader(Utterances(rows, labels), batch_sampler=sampler,
                                       collate_fn=PaddedBatch)
  modules.train()
  normalize.train()
  step, epoch = 0, 0
  while step < args.steps:
    sampler.set_epoch(epoch)
    for batch in loader:
      wavs, wav_lens = batch.sig
      tokens, token_lens = batch.tokens
      wavs, wav_lens = augment(wavs, wav_lens)
      tokens = augment.replicate_labels(tokens)
      token_lens = augment.replicate_labels(token_lens)
      out = log_probs(modules, normalize, compute_features, wavs, wav_lens)
      loss = sb.nnet.losses.ctc_loss(out, tokens, wav_lens, token_lens, blank_index=BLANK)
      if torch.isfinite(loss):  # sb.Brain skips a non-finite loss's update
        loss.backward()
        torch.nn.utils.clip_grad_norm_(modules.parameters(), 5.0)
        optimizer.step()
      optimizer.zero_grad(set_to_none=True)
      step += 1
      if step % 10 == 0:
        print(f"step {step} epoch {epoch} loss {loss.item():.4f}", flush=True)
      if step % args.save_every == 0 or step == args.steps:
        save(os.path.join(args.out, f"step_{step}.pt"), modules, normalize,
             {**meta, "step": step})
      if step == args.steps:
        break
    epoch += 1


def transcribe(args):
  checkpoint = torch.load(args.checkpoint, weights_only=False)
  labels = checkpoint["labels"]
  modules = build(checkpoint["width"], checkpoint["n_mels"], len(labels))
  modules.load_state_dict(checkpoint["modules"])
  normalize = InputNormalization(norm_type="global")
  normalize._load_statistics_dict(checkpoint["normalize"])
  modules.eval()
  normalize.eval()
  compute_features = features(checkpoint["n_mels"])
  rows = read_split(args.data)
  order = sorted(range(len(rows)), key=lambda i: int(rows[i]["frames"]))
  searcher = (CTCBeamSearcher(blank_index=BLANK, vocab_list=labels, space_token=" ",
                              beam_size=args.beam) if args.beam > 1 else None)
  texts = [None] * len(rows)
  data = Utterances(rows)
  with torch.no_grad():
    for start in range(0, len(order), args.batch_size):
      chunk = order[start:start + args.batch_size]
      batch = PaddedBatch([data[i] for i in chunk])
      wavs, wav_lens = batch.sig
      out = log_probs(modules, normalize, compute_features, wavs, wav_lens)
      if searcher is None:
        hyps = ["".join(labels[t] for t in seq)
                for seq in ctc_greedy_decode(out, wav_lens, blank_id=BLANK)]
      else:
        hyps = [beams[0].text for beams in searcher(out, wav_lens)]
      for i, text in zip(chunk, hyps):
        texts[i] = " ".join(text.split())
  with open(args.out + ".tmp", "w", encoding="utf-8") as f:
    f.writelines(t + "\n" for t in texts)
  os.replace(args.out + ".tmp", args.out)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  sub = p.add_subparsers(dest="mode", required=True)
  t = sub.add_parser("train")
  t.add_argument("--train", required=True, help="the training split's CSV")
  t.add_argument("--out", required=True)
  t.add_argument("--steps", type=int, required=True)
  t.add_argument("--save_every", type=int, required=True)
  t.add_argument("--batch_frames", type=int, required=True,
                 help="t2t_lite's batch_size: padded 10 ms frames per batch")
  t.add_argument("--bucket_frames", required=True,
                 help="t2t_lite's length buckets: each one's longest utterance in frames, "
                      "the last one its max_length")
  t.add_argument("--width", type=int, required=True, help="the LiGRU width (size's)")
  t.add_argument("--n_mels", type=int, default=80)
  t.add_argument("--seed", type=int, default=1986)  # the recipe's
  z = sub.add_parser("size", help="the width whose parameters are closest to a target")
  z.add_argument("--train", required=True, help="the training split's CSV (its labels)")
  z.add_argument("--target_params", type=int, required=True)
  z.add_argument("--n_mels", type=int, default=80)
  z.add_argument("--out", required=True, help="a JSON file: width, params")
  d = sub.add_parser("transcribe")
  d.add_argument("--checkpoint", required=True)
  d.add_argument("--data", required=True, help="a split's CSV")
  d.add_argument("--out", required=True, help="one transcript per line, in the CSV's order")
  d.add_argument("--beam", type=int, default=1, help="1: greedy; more: CTCBeamSearcher")
  d.add_argument("--batch_size", type=int, default=16)
  args = p.parse_args(argv)
  {"size": size, "train": train, "transcribe": transcribe}[args.mode](args)
  return 0


if __name__ == "__main__":
  sys.exit(main())
