"""Speech recognition quality side by side: t2t_lite's DeepSpeech2 and a speech toolkit's
CTC recipe, trained on the same files.

Both read the same WAV files (the corpus's train/dev/test manifests, or their first
--max_utterances lines each), train for the same number of updates on batches of the same
padded frames, and are evaluated at the same steps; one after the other on this machine.
Each follows its own recipe otherwise:

  t2t_lite     the README's speech_manifest commands (t2t-datagen, t2t-trainer
               --model=deep_speech2, t2t-decoder) with --hparams_set (default
               deep_speech2_base) and --t2t_hparams
  speechbrain  SpeechBrain's from-scratch CTC recipe for TIMIT (CRDNN with LiGRUs,
               Adadelta, waveform augmentation), scaled to t2t_lite's parameter count and
               given t2t_lite's batches: bench/peers/speechbrain_ctc.py says exactly how

Features are 80 log-mel bins of 25 ms windows every 10 ms for both (t2t_lite's audio_*
hparams; SpeechBrain's Fbank set to the same bins, window, FFT and band). Batches: t2t_lite's
length buckets and batch_size in frames; SpeechBrain's DynamicBatchSampler gets the same
buckets and half that budget, as its recipe adds a perturbed copy of every utterance.

For every checkpoint (every --eval_every steps) the table has the step, the training
wall-clock seconds (checkpoint file time minus the training process's start: start-up
counts, decoding does not) and the dev WER/CER of greedy CTC decoding; at the last step,
the test WER/CER greedy and with each toolkit's own CTC beam search at --beam (no language
model). One scorer for all: t2t_lite's speech_metrics.error_rates on transcripts
normalized as t2t_lite normalizes its training transcripts (lower case; letters and
apostrophes; single spaces). Rows go to OUT/results.jsonl as they are measured (a rerun
skips what is there); OUT/results.md and OUT/speech.png are rewritten at the end.

  python bench/speech_compare.py --corpus_dir=/work/speechdata/espeak \\
      --out=/work/speechdata/compare --steps=600 --eval_every=200 \\
      --t2t_hparams=learning_rate_warmup_steps=200
"""
import argparse
import csv
import json
import os
import sys
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import comparison  # noqa: E402 - this folder is not a package
from comparison import Column, read_lines, run, write_lines  # noqa: E402

TOOLKITS = ("t2t_lite", "speechbrain")
PROBLEM = "speech_manifest"
MODEL = "deep_speech2"
SPLITS = ("train", "dev", "test")


# --- the shared files -------------------------------------------------------------------


def slice_manifests(corpus_dir, data, max_utterances):
  """OUT/data/SPLIT.tsv: each manifest's first max_utterances lines (0: all) with absolute
  WAV paths, as t2t-datagen and t2t-decoder read them. Returns {split: [(wav, text)]}."""
  from t2t_lite.problems.speech import read_manifest
  os.makedirs(data, exist_ok=True)
  splits = {}
  for split in SPLITS:
    rows = read_manifest(os.path.join(corpus_dir, f"{split}.tsv"))
    rows = rows[:max_utterances] if max_utterances else rows
    splits[split] = [(wav, text) for wav, text, _ in rows]
    write_lines(os.path.join(data, f"{split}.tsv"), [f"{w}\t{t}" for w, t in splits[split]])
  return splits


def wav_frames(path, frame_length_ms, frame_step_ms):
  """Feature frames of a WAV file, as t2t_lite's front end frames it."""
  from t2t_lite.data import audio
  with wave.open(path, "rb") as f:
    samples, rate = f.getnframes(), f.getframerate()
  return int(audio.num_frames(samples, round(rate * frame_length_ms / 1000),
                              round(rate * frame_step_ms / 1000)))


def write_peer_csv(path, rows, frame_length_ms=25.0, frame_step_ms=10.0):
  """A split for the peer: ID, wav, frames (t2t_lite's feature frames of the file) and
  wrd (the transcript as t2t_lite trains on it)."""
  from t2t_lite.data.speech_encoders import normalize_transcript
  with open(path + ".tmp", "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["ID", "wav", "frames", "wrd"])
    for i, (wav, text) in enumerate(rows):
      writer.writerow([f"utt{i:06d}", wav, wav_frames(wav, frame_length_ms, frame_step_ms),
                       normalize_transcript(text)])
  os.replace(path + ".tmp", path)


def model_info(hparams_set, hparams, data_dir):
  """t2t_lite's model and batches for these hparams: its trainable parameters, batch_size
  (frames), bucket boundaries as each bucket's longest utterance in frames (the last one
  max_length) and the front end's settings."""
  import numpy as np

  from t2t_lite import experiment
  from t2t_lite.data import input_pipeline
  experiment.load_registrations()
  problem, model_cls, hp = experiment.resolve(PROBLEM, MODEL, hparams_set, hparams)
  problem.update_hparams(hp, data_dir)
  model = model_cls(hp)
  model(model.dummy_features())
  max_length = hp.max_length or hp.batch_size
  boundaries, _ = input_pipeline.batching_scheme(hp.batch_size, max_length,
                                                 hp.min_length_bucket, hp.length_bucket_step)
  return {"params": sum(int(np.prod(w.shape)) for w in model.trainable_weights),
          "batch_frames": hp.batch_size, "bucket_frames": [b - 1 for b in boundaries] +
          [max_length], "n_mels": hp.audio_num_mel_bins,
          "frame_length_ms": hp.audio_frame_length_ms, "frame_step_ms": hp.audio_frame_step_ms}


def prepare(args):
  """The sliced manifests, t2t-datagen's data_dir, t2t_lite's model info, the peer's CSVs."""
  data = os.path.join(args.out, "data")
  splits = slice_manifests(args.corpus_dir, data, args.max_utterances)
  data_dir = os.path.join(args.out, "t2t_data")
  settings = (f"train_manifest={data}/train.tsv,dev_manifest={data}/dev.tsv,lm_order=0")
  run([os.path.join(args.t2t_bin, "t2t-datagen"), f"--problem={PROBLEM}",
       f"--data_dir={data_dir}", f"--problem_settings={settings}"],
      os.path.join(args.out, "datagen.log"))
  info = model_info(args.hparams_set, args.t2t_hparams, data_dir)
  if (info["frame_length_ms"], info["frame_step_ms"]) != (25.0, 10.0):
    raise SystemExit(f"error: --hparams_set={args.hparams_set} frames audio at "
                     f"{info['frame_length_ms']} ms / {info['frame_step_ms']} ms; the peer "
                     "is set to 25 ms / 10 ms: compare a set with those")
  for split, rows in splits.items():
    write_peer_csv(os.path.join(data, f"{split}.csv"), rows, info["frame_length_ms"],
                   info["frame_step_ms"])
  with open(os.path.join(args.out, "t2t_model.json"), "w") as f:
    json.dump(info, f, indent=1)
  return data, data_dir, info


def error_rates(hypotheses, references):
  """{"wer", "cer"} of both sides normalized as t2t_lite's transcripts."""
  from t2t_lite import speech_metrics
  from t2t_lite.data.speech_encoders import normalize_transcript
  return speech_metrics.error_rates([normalize_transcript(h) for h in hypotheses],
                                    [normalize_transcript(r) for r in references])


# --- toolkits ---------------------------------------------------------------------------


class Toolkit(comparison.Toolkit):
  """Trains into its folder and transcribes a split with one of its checkpoints."""

  def __init__(self, args, data, data_dir, info):
    super().__init__(args, args.out)
    self.data, self.data_dir, self.info = data, data_dir, info

  def transcribe(self, checkpoint, split, beam):
    """The split's transcripts, in manifest order (beam 1: greedy)."""
    raise NotImplementedError

  def _hyp_path(self, checkpoint, split, beam):
    return os.path.join(self.dir, f"{split}-{os.path.basename(checkpoint)}-beam{beam}.hyp")


class T2TLite(comparison.T2TRun, Toolkit):
  name = "t2t_lite"

  def train(self):
    a = self.args
    run([self._bin("t2t-trainer"), f"--problem={PROBLEM}", f"--data_dir={self.data_dir}",
         f"--model={MODEL}", f"--hparams_set={a.hparams_set}", f"--hparams={a.t2t_hparams}",
         f"--output_dir={self.dir}/run", f"--train_steps={a.steps}", "--schedule=train",
         f"--local_eval_frequency={a.eval_every}", "--keep_checkpoint_max=0",
         f"--random_seed={a.seed}"], self.log)

  def params(self):
    # The built model's trainable weights, as the peer counts its own (a checkpoint also
    # holds batch-norm statistics and seeds).
    return self.info["params"]

  def transcribe(self, checkpoint, split, beam):
    out = self._hyp_path(checkpoint, split, beam)
    run([self._bin("t2t-decoder"), f"--output_dir={self.dir}/run",
         f"--checkpoint_path={checkpoint}", f"--decode_from_file={self.data}/{split}.tsv",
         f"--decode_to_file={out}", f"--decode_hparams=beam_size={beam}"], self.log)
    return read_lines(out)


class SpeechBrain(Toolkit):
  name = "speechbrain"

  def _cmd(self, mode):
    return [self.args.sb_python, os.path.join(HERE, "peers", "speechbrain_ctc.py"), mode]

  def setup(self):
    """The CRDNN width whose parameters are closest to t2t_lite's."""
    size = os.path.join(self.dir, "size.json")
    run(self._cmd("size") + [f"--train={self.data}/train.csv",
                             f"--target_params={self.info['params']}",
                             f"--n_mels={self.info['n_mels']}", f"--out={size}"], self.log)
    with open(size) as f:
      self.width = json.load(f)["width"]

  def train(self):
    a, info = self.args, self.info
    run(self._cmd("train") + [
        f"--train={self.data}/train.csv", f"--out={self.dir}/run", f"--steps={a.steps}",
        f"--save_every={a.eval_every}", f"--batch_frames={info['batch_frames']}",
        "--bucket_frames=" + ",".join(map(str, info["bucket_frames"])),
        f"--width={self.width}", f"--n_mels={info['n_mels']}"], self.log)

  def checkpoints(self):
    run_dir = os.path.join(self.dir, "run")
    return {int(n[len("step_"):-len(".pt")]): os.path.join(run_dir, n)
            for n in (os.listdir(run_dir) if os.path.isdir(run_dir) else [])
            if n.startswith("step_") and n.endswith(".pt")}

  def transcribe(self, checkpoint, split, beam):
    out = self._hyp_path(checkpoint, split, beam)
    run(self._cmd("transcribe") + [f"--checkpoint={checkpoint}",
                                   f"--data={self.data}/{split}.csv", f"--out={out}",
                                   f"--beam={beam}"], self.log)
    return read_lines(out)

  def params(self):
    with open(os.path.join(self.dir, "run", "params.json")) as f:
      return json.load(f)["params"]


CLASSES = {cls.name: cls for cls in (T2TLite, SpeechBrain)}


# --- the comparison ---------------------------------------------------------------------

COLUMNS = (Column("dev CER", "dev", "cer", ".4f"), Column("dev WER", "dev", "wer", ".4f"),
           Column("test CER", "test", "cer", ".4f"), Column("test WER", "test", "wer", ".4f"),
           Column("test CER beam", "test", "beam_cer", ".4f"),
           Column("test WER beam", "test", "beam_wer", ".4f"))


def beam_note(table):
  beams = sorted({r["beam"] for e in table.values() for r in e["test"].values()})
  return [f"CER/WER of greedy CTC decoding; beam: each toolkit's own CTC beam search at beam "
          f"{'/'.join(map(str, beams))}, no language model."] if beams else []


def report(out):
  comparison.write_report(out, COLUMNS, "speech.png", "cer", "dev CER (greedy)", beam_note)


def compare(args):
  os.makedirs(args.out, exist_ok=True)
  data, data_dir, info = prepare(args)
  refs = {split: [line.split("\t", 1)[1] for line in read_lines(f"{data}/{split}.tsv")]
          for split in ("dev", "test")}
  for name in args.toolkits.split(","):
    toolkit = CLASSES[name](args, data, data_dir, info)

    def dev(path, toolkit=toolkit):
      return error_rates(toolkit.transcribe(path, "dev", 1), refs["dev"])

    def test(path, toolkit=toolkit):
      rates = error_rates(toolkit.transcribe(path, "test", 1), refs["test"])
      beam = error_rates(toolkit.transcribe(path, "test", args.beam), refs["test"])
      return {**rates, "beam_cer": beam["cer"], "beam_wer": beam["wer"], "beam": args.beam}
    comparison.measure(toolkit, os.path.join(args.out, "results.jsonl"), args.steps, dev,
                       test)
  report(args.out)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--corpus_dir", help="folder with train.tsv, dev.tsv and test.tsv "
                 "(WAV path<TAB>transcript; bench/make_speech_corpus.py writes them)")
  p.add_argument("--out", required=True, help="data, runs, transcripts and results go here")
  p.add_argument("--toolkits", default=",".join(TOOLKITS))
  p.add_argument("--steps", type=int, default=600)
  p.add_argument("--eval_every", type=int, default=200)
  p.add_argument("--hparams_set", default="deep_speech2_base", help="t2t_lite's")
  p.add_argument("--t2t_hparams", default="", help="t2t_lite hparams overrides")
  p.add_argument("--max_utterances", type=int, default=0,
                 help="only the first N utterances of each split (0: all)")
  p.add_argument("--beam", type=int, default=8, help="the test's CTC beam search")
  p.add_argument("--seed", type=int, default=1234, help="t2t_lite's --random_seed")
  p.add_argument("--t2t_bin", default=os.path.dirname(sys.executable),
                 help="folder with t2t-datagen/-trainer/-decoder")
  p.add_argument("--sb_python", default="/work/peers/sb-venv/bin/python",
                 help="the SpeechBrain virtualenv's python (bench/README.md)")
  p.add_argument("--report_only", action="store_true",
                 help="only rewrite results.md and speech.png from results.jsonl")
  args = p.parse_args(argv)
  if args.report_only:
    report(args.out)
    return 0
  if not args.corpus_dir:
    p.error("--corpus_dir is required (build one with bench/make_speech_corpus.py)")
  missing = [s for s in SPLITS if not os.path.isfile(os.path.join(args.corpus_dir, f"{s}.tsv"))]
  if missing:
    p.error(f"--corpus_dir={args.corpus_dir} has no {', '.join(s + '.tsv' for s in missing)}; "
            "build the corpus with bench/make_speech_corpus.py")
  toolkits = comparison.toolkits_of(p, args.toolkits, CLASSES)
  if "speechbrain" in toolkits and not os.path.exists(args.sb_python):
    p.error(f"--sb_python={args.sb_python} does not exist; make that virtualenv "
            "(bench/README.md) or leave speechbrain out of --toolkits")
  if args.steps % args.eval_every:
    p.error(f"--steps={args.steps} must be a multiple of --eval_every={args.eval_every}, so "
            "both toolkits are evaluated at the same steps")
  compare(args)
  return 0


if __name__ == "__main__":
  sys.exit(main())
