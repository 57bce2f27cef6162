"""Translation quality side by side: t2t_lite and peer toolkits on the same files.

Every toolkit trains the same Transformer size (layers, width, heads, feed-forward; tied
embeddings and softmax) on the same sentencepiece pieces of the same corpus (the model
t2t-datagen trains once for t2t_lite is shared by all), with the same batch in tokens, the
same number of steps and the same warmup, one toolkit after another on this machine. Each
follows its own documented recipe otherwise:

  t2t_lite   the README's translate_from_files commands (t2t-datagen, t2t-trainer,
             t2t-decoder) with --hparams_set (default transformer_small): Tensor2Tensor's
             transformer_base_v3 recipe scaled down (pre-norm, dropout 0.1, label smoothing
             0.1, Adam 0.9/0.997, constant 2 * linear warmup * rsqrt decay * rsqrt(width))
  eole       OpenNMT's transformer recipe (eole recipes/wmt17/wmt17_ende.yaml): noam
             schedule with learning rate 2, Adam 0.9/0.998, dropout 0.1, label smoothing
             0.1, xavier-uniform init, token batches normalized by tokens; shared embeddings
  hf_marian  Hugging Face MarianMTModel from a config, trained by bench/peers/hf_marian.py
             with fairseq's transformer_iwslt_de_en recipe (lr 5e-4 inverse-sqrt, Adam
             0.9/0.98, dropout 0.3, weight decay 1e-4, label smoothing 0.1)

Peers run under their own Python (--eole_python, --hf_python; bench/README.md says how to
make those virtualenvs); t2t_lite never imports them. For every checkpoint (every
--eval_every steps) the table has the step, the training wall-clock seconds (checkpoint
file time minus the training process's start, so start-up counts and decoding does not) and
the dev BLEU of a beam-4 decode of --dev_samples dev sentences spread evenly over the
split; at the last step, the test BLEU at beam 4. Each toolkit decodes with its own beam
search and its own default length penalty; its sentencepiece pieces become text through
the shared model (t2t-decoder detokenizes with the same model), and sacrebleu scores all
of them with one signature. Rows go to WORK/results.jsonl as they are measured (a rerun
skips what is there); WORK/results.md and WORK/quality.png are rewritten at the end.

  /work/venv-mt/bin/python bench/make_mt_corpus.py --lang=fr --out=/work/mtdata/corpus
  /work/venv-mt/bin/python bench/quality_compare.py \\
      --corpus=/work/mtdata/corpus/en-fr --src=en --tgt=fr --work=/work/mtdata/qc \\
      --eole_python=/work/peers/eole-venv/bin/python --hf_python=/work/peers/hf-venv/bin/python \\
      --steps=600 --batch_tokens=2048 --warmup=200 --eval_every=150
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import comparison  # noqa: E402 - this folder is not a package
from comparison import Column, read_lines, run, write_lines  # noqa: E402

TOOLKITS = ("t2t_lite", "eole", "hf_marian")
PROBLEM = "translate_from_files"


def bleu(hyps, refs):
  """sacrebleu corpus BLEU (13a, mixed case): score, signature, hyp/ref length ratio."""
  import sacrebleu
  metric = sacrebleu.BLEU()
  result = metric.corpus_score(hyps, [refs])
  return result.score, str(metric.get_signature()), result.sys_len / max(1, result.ref_len)


# --- the table and the plot -------------------------------------------------------------

COLUMNS = (Column("dev BLEU", "dev", "bleu", ".2f"),
           Column("dev len", "dev", "length_ratio", ".3f"),
           Column("test BLEU", "test", "bleu", ".2f"),
           Column("test len", "test", "length_ratio", ".3f"))


def signatures(table):
  found = sorted({r["signature"] for e in table.values() for r in e["dev"]})
  return ["sacrebleu: " + "; ".join(found)] if found else []


def report(work):
  comparison.write_report(work, COLUMNS, "quality.png", "bleu", "dev BLEU (beam 4)", signatures)


# --- data shared by every toolkit -------------------------------------------------------


def spread(lines, n):
  """n lines evenly spaced over the file (all when n is 0 or more than there are): the
  corpus files are sorted by source, so the first n would all start alike."""
  if not n or n >= len(lines):
    return lines
  return [lines[i * len(lines) // n] for i in range(n)]


def prepare(args):
  """t2t-datagen (which trains the shared sentencepiece model), then every split as pieces."""
  data_dir = os.path.join(args.work, "t2t_data")
  c = args.corpus
  settings = (f"train_source={c}/train.{args.src},train_target={c}/train.{args.tgt},"
              f"dev_source={c}/dev.{args.src},dev_target={c}/dev.{args.tgt},"
              f"approx_vocab_size={args.vocab_size}")
  run([os.path.join(args.t2t_bin, "t2t-datagen"), f"--problem={PROBLEM}",
       f"--data_dir={data_dir}", f"--problem_settings={settings}"],
      os.path.join(args.work, "datagen.log"))
  sp_model = os.path.join(data_dir, f"{PROBLEM}.shared.sp.model")
  import sentencepiece as spm
  sp = spm.SentencePieceProcessor(model_file=sp_model)
  pieces = os.path.join(args.work, "pieces")
  os.makedirs(pieces, exist_ok=True)
  for split in ("train", "dev", "test"):
    for lang in (args.src, args.tgt):
      lines = read_lines(os.path.join(c, f"{split}.{lang}"))
      if split == "dev":
        lines = spread(lines, args.dev_samples)
        write_lines(os.path.join(pieces, f"dev.{lang}"), lines)
      if split == "test":
        lines = lines[:args.test_samples] if args.test_samples else lines
        write_lines(os.path.join(pieces, f"test.{lang}"), lines)
      write_lines(os.path.join(pieces, f"{split}.{lang}.sp"),
                  [" ".join(sp.encode(line, out_type=str)) for line in lines])
  vocab = os.path.join(pieces, "vocab.txt")  # eole's format; its own specials come first
  write_lines(vocab, [f"{sp.id_to_piece(i)}\t1" for i in range(3, sp.get_piece_size())])
  return data_dir, sp_model, sp, pieces


# --- toolkits ---------------------------------------------------------------------------


class Toolkit(comparison.Toolkit):
  """Trains into its folder and decodes one of its checkpoints to text lines."""

  def __init__(self, args, data_dir, sp_model, sp, pieces):
    super().__init__(args, args.work)
    self.data_dir, self.sp_model, self.sp, self.pieces = data_dir, sp_model, sp, pieces

  def translate(self, checkpoint, split):
    raise NotImplementedError

  def detok(self, piece_lines):
    return [self.sp.decode_pieces(line.split()) for line in piece_lines]


class T2TLite(comparison.T2TRun, Toolkit):
  name = "t2t_lite"

  def train(self):
    a = self.args
    hparams = f"batch_size={a.batch_tokens},learning_rate_warmup_steps={a.warmup}"
    if a.t2t_hparams:
      hparams += "," + a.t2t_hparams
    run([self._bin("t2t-trainer"), f"--problem={PROBLEM}", f"--data_dir={self.data_dir}",
         "--model=transformer", f"--hparams_set={a.t2t_hparams_set}", f"--hparams={hparams}",
         f"--output_dir={self.dir}/run", f"--train_steps={a.steps}", "--schedule=train",
         f"--local_eval_frequency={a.eval_every}", "--keep_checkpoint_max=0",
         "--eval_decode_samples=0", f"--random_seed={a.seed}"], self.log)

  def translate(self, checkpoint, split):
    out = os.path.join(self.dir, f"{split}-{os.path.basename(checkpoint)}.hyp")
    run([self._bin("t2t-decoder"), f"--output_dir={self.dir}/run",
         f"--checkpoint_path={checkpoint}",
         f"--decode_from_file={self.pieces}/{split}.{self.args.src}",
         f"--decode_to_file={out}", "--decode_hparams=beam_size=4"], self.log)
    return read_lines(out)


class Eole(Toolkit):
  name = "eole"

  def config(self):
    a = self.args
    p = self.pieces
    return f"""# OpenNMT's transformer recipe (eole recipes/wmt17) at the shared size and budget
save_data: {self.dir}/data
overwrite: True
seed: {a.seed}
report_every: 50
src_vocab: {p}/vocab.txt
tgt_vocab: {p}/vocab.txt
share_vocab: True
src_vocab_size: {self.sp.get_piece_size()}
tgt_vocab_size: {self.sp.get_piece_size()}
vocab_size_multiple: 1
src_words_min_frequency: 0
tgt_words_min_frequency: 0
n_sample: 0
data:
  corpus_1:
    path_src: {p}/train.{a.src}.sp
    path_tgt: {p}/train.{a.tgt}.sp
training:
  model_path: {self.dir}/run
  keep_checkpoint: 1000
  save_checkpoint_steps: {a.eval_every}
  train_steps: {a.steps}
  valid_steps: {10 * a.steps}
  world_size: 1
  gpu_ranks: []
  num_workers: 0
  batch_type: tokens
  batch_size: {a.batch_tokens}
  batch_size_multiple: 1
  accum_count: [1]
  dropout: [0.1]
  attention_dropout: [0.1]
  optim: adam
  learning_rate: 2
  warmup_steps: {a.warmup}
  decay_method: noam
  adam_beta2: 0.998
  max_grad_norm: 0
  label_smoothing: 0.1
  param_init: 0
  param_init_method: xavier_uniform
  normalization: tokens
model:
  architecture: transformer
  hidden_size: {a.hidden}
  share_decoder_embeddings: true
  share_embeddings: true
  layers: {a.layers}
  heads: {a.heads}
  transformer_ff: {a.ff}
  embeddings:
    word_vec_size: {a.hidden}
    position_encoding: true
"""

  def _eole(self):
    return [os.path.join(os.path.dirname(self.args.eole_python), "eole")]

  def train(self):
    path = os.path.join(self.dir, "config.yaml")
    with open(path, "w") as f:
      f.write(self.config())
    run(self._eole() + ["train", "-config", path], self.log,
        env={**os.environ, "OMP_NUM_THREADS": "2"})

  def checkpoints(self):
    run_dir = os.path.join(self.dir, "run")
    return {int(n[len("step_"):]): os.path.join(run_dir, n)
            for n in (os.listdir(run_dir) if os.path.isdir(run_dir) else [])
            if n.startswith("step_") and n[len("step_"):].isdigit()}

  def checkpoint_time(self, path):
    return max(os.path.getmtime(os.path.join(path, n)) for n in os.listdir(path))

  def translate(self, checkpoint, split):
    out = os.path.join(self.dir, f"{split}-{os.path.basename(checkpoint)}.hyp.sp")
    run(self._eole() + ["predict", "--model_path", checkpoint,
                        "--src", f"{self.pieces}/{split}.{self.args.src}.sp", "--output", out,
                        "--beam_size", "4", "--batch_size", "32", "--batch_type", "sents"],
        self.log)
    return self.detok(read_lines(out))

  def params(self):
    with open(self.log) as f:
      for line in f:
        if "* number of parameters:" in line:
          return int(line.rsplit(":", 1)[1])
    return None


class HFMarian(Toolkit):
  name = "hf_marian"

  def _cmd(self, mode):
    a = self.args
    return [a.hf_python, os.path.join(HERE, "peers", "hf_marian.py"), mode,
            f"--sp_model={self.sp_model}", f"--layers={a.layers}", f"--hidden={a.hidden}",
            f"--heads={a.heads}", f"--ff={a.ff}"]

  def train(self):
    a = self.args
    run(self._cmd("train") + [
        f"--src={self.pieces}/train.{a.src}.sp", f"--tgt={self.pieces}/train.{a.tgt}.sp",
        f"--out={self.dir}/run", f"--batch_tokens={a.batch_tokens}", f"--steps={a.steps}",
        f"--warmup={a.warmup}", f"--save_every={a.eval_every}", f"--seed={a.seed}"], self.log)

  def checkpoints(self):
    run_dir = os.path.join(self.dir, "run")
    return {int(n[len("step_"):-len(".pt")]): os.path.join(run_dir, n)
            for n in (os.listdir(run_dir) if os.path.isdir(run_dir) else [])
            if n.startswith("step_") and n.endswith(".pt")}

  def translate(self, checkpoint, split):
    out = os.path.join(self.dir, f"{split}-{os.path.basename(checkpoint)}.hyp.sp")
    run(self._cmd("translate") + [f"--checkpoint={checkpoint}",
                                  f"--src={self.pieces}/{split}.{self.args.src}.sp",
                                  f"--out={out}", "--beam=4"], self.log)
    return self.detok(read_lines(out))

  def params(self):
    with open(os.path.join(self.dir, "run", "params.json")) as f:
      return json.load(f)["params"]


CLASSES = {cls.name: cls for cls in (T2TLite, Eole, HFMarian)}


def compare(args):
  os.makedirs(args.work, exist_ok=True)
  data_dir, sp_model, sp, pieces = prepare(args)
  refs = {split: read_lines(os.path.join(pieces, f"{split}.{args.tgt}"))
          for split in ("dev", "test")}
  for name in args.toolkits.split(","):
    toolkit = CLASSES[name](args, data_dir, sp_model, sp, pieces)

    def scores(path, split, toolkit=toolkit):
      score, signature, ratio = bleu(toolkit.translate(path, split), refs[split])
      return {"bleu": score, "length_ratio": ratio, "signature": signature}
    comparison.measure(toolkit, os.path.join(args.work, "results.jsonl"), args.steps,
            lambda path, scores=scores: scores(path, "dev"),
            lambda path, scores=scores: scores(path, "test"))
  report(args.work)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--corpus", help="folder with {train,dev,test}.{src,tgt} (make_mt_corpus.py)")
  p.add_argument("--src", default="en")
  p.add_argument("--tgt", default="fr")
  p.add_argument("--work", required=True, help="runs, decodes and results go here")
  p.add_argument("--toolkits", default=",".join(TOOLKITS))
  p.add_argument("--t2t_bin", default=os.path.dirname(sys.executable),
                 help="folder with t2t-datagen/-trainer/-decoder and t2t_lite's python")
  p.add_argument("--eole_python", default="/work/peers/eole-venv/bin/python")
  p.add_argument("--hf_python", default="/work/peers/hf-venv/bin/python")
  p.add_argument("--t2t_hparams_set", default="transformer_small")
  p.add_argument("--t2t_hparams", default="", help="more t2t_lite hparams overrides")
  p.add_argument("--layers", type=int, default=2, help="peers' size: transformer_small's")
  p.add_argument("--hidden", type=int, default=256)
  p.add_argument("--heads", type=int, default=4)
  p.add_argument("--ff", type=int, default=1024)
  p.add_argument("--vocab_size", type=int, default=8000)
  p.add_argument("--batch_tokens", type=int, default=2048)
  p.add_argument("--steps", type=int, default=600)
  p.add_argument("--warmup", type=int, default=200)
  p.add_argument("--eval_every", type=int, default=150)
  p.add_argument("--dev_samples", type=int, default=300)
  p.add_argument("--test_samples", type=int, default=0, help="0: the whole test split")
  p.add_argument("--seed", type=int, default=1234)
  p.add_argument("--report_only", action="store_true",
                 help="only rewrite results.md and quality.png from results.jsonl")
  args = p.parse_args(argv)
  if args.report_only:
    report(args.work)
    return 0
  if not args.corpus:
    p.error("--corpus is required (build one with bench/make_mt_corpus.py)")
  toolkits = comparison.toolkits_of(p, args.toolkits, CLASSES)
  for name, flag in (("eole", "eole_python"), ("hf_marian", "hf_python")):
    if name in toolkits and not os.path.exists(getattr(args, flag)):
      p.error(f"--{flag}={getattr(args, flag)} does not exist; make that virtualenv "
              f"(bench/README.md) or leave {name} out of --toolkits")
  compare(args)
  return 0


if __name__ == "__main__":
  sys.exit(main())
