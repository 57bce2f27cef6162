"""The research workflow through the binaries: best checkpoints and early stopping on dev
BLEU (also across a kill and a resume), EMA weights in decoding, --checkpoint=best,
tuned search settings saved with the run, n-best lists against --score_file, ensembles."""
import json
import os
import re
import shutil
import signal
import subprocess

import pytest

from tests.bin.helpers import ENV, launcher, run, start
from tests.problems.synthetic_language import corpus

pytestmark = pytest.mark.slow

# A small transformer on the synthetic language whose learning rate keeps growing
# (constant * (step / 400)^2): dev BLEU rises while the rate is small, then falls as it
# becomes too large, so early stopping has a peak to find. --deterministic: a killed and
# resumed run must retrace the same curve.
CURVE = ("batch_size=512,hidden_size=64,filter_size=128,num_heads=2,num_hidden_layers=1,"
         "layer_prepostprocess_dropout=0,attention_dropout=0,relu_dropout=0,"
         "learning_rate_schedule=constant*linear_warmup*linear_warmup,"
         "learning_rate_warmup_steps=400,learning_rate_constant=0.2,ema_decay=0.9")
EVERY, PATIENCE, MAX_STEPS = 50, 2, 800


def _spawn(name, *args):
  """A binary started as run() would run it; _finish collects it. The tests start the
  processes that do not depend on each other at once: on 2 cores, one's single-threaded
  start (imports, tracing) overlaps the other's work."""
  return subprocess.Popen(launcher(name) + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=ENV)


def _finish(proc, check=True, timeout=900):
  """run()'s result of a _spawn()ed process."""
  try:
    stdout, stderr = proc.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    proc.kill()
    raise
  if check and proc.returncode != 0:
    raise AssertionError(f"{proc.args} failed ({proc.returncode}):\n{stdout}\n{stderr}")
  return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _lines(path, lines):
  path.write_text("".join(line + "\n" for line in lines))
  return str(path)


def _trainer_args(data, out):
  return ["--problem=translate_from_files", f"--data_dir={data}", "--model=transformer",
          "--hparams_set=transformer_tiny", f"--output_dir={out}",
          f"--train_steps={MAX_STEPS}", f"--local_eval_frequency={EVERY}", "--eval_steps=2",
          "--eval_decode_samples=16", "--eval_decode_hparams=beam_size=1",
          f"--log_step_count_steps={EVERY}", "--deterministic", "--best_metric=bleu",
          "--keep_best_checkpoints=2", f"--early_stopping_patience={PATIENCE}",
          "--keep_checkpoint_max=2", f"--hparams={CURVE}"]


def _bleu_by_step(log):
  return {int(m.group(1)): float(m.group(2))
          for m in re.finditer(r"eval at step (\d+) \(dev.*  bleu ([\d.]+)", log)}


@pytest.fixture(scope="module")
def curve(tmp_path_factory):
  """The synthetic language's data, the run that trains until early stopping, and the same
  run killed between the save of step 2 * EVERY and its evaluation, then resumed (the two
  train at once)."""
  tmp = tmp_path_factory.mktemp("workflow")
  pairs = corpus(2050, seed=0)
  src = _lines(tmp / "train.src", [s for s, _ in pairs[:2000]])
  tgt = _lines(tmp / "train.tgt", [t for _, t in pairs[:2000]])
  data, out, killed = str(tmp / "data"), str(tmp / "run"), str(tmp / "killed")
  run("t2t-datagen", "--problem=translate_from_files", f"--data_dir={data}",
      f"--problem_settings=train_source={src},train_target={tgt},approx_vocab_size=200,"
      "dev_fraction=0.05")
  reference = _spawn("t2t-trainer", *_trainer_args(data, out))
  proc = start("t2t-trainer", *_trainer_args(data, killed))
  lines = []
  for line in proc.stdout:  # killed between the save of step 2 * EVERY and its evaluation
    lines.append(line)
    if line.startswith("saved checkpoint") and line.rstrip().endswith(f"-{2 * EVERY}"):
      proc.send_signal(signal.SIGKILL)
      break
  proc.wait(timeout=60)
  proc.stdout.close()
  resumed = _spawn("t2t-trainer", *_trainer_args(data, killed))
  return {"tmp": tmp, "data": data, "out": out, "log": _finish(reference).stdout,
          "killed": killed, "killed_status": proc.returncode, "killed_lines": lines,
          "resumed_log": _finish(resumed).stdout,
          "test_src": _lines(tmp / "test.src", [s for s, _ in pairs[2000:2010]])}


def _stop(log):
  match = re.search(r"stopping at step (\d+): early stopping: bleu did not improve on "
                    r"([\d.]+) \(step (\d+)\) in (\d+) evaluation\(s\)", log)
  assert match, log[-3000:]
  return int(match.group(1)), float(match.group(2)), int(match.group(3))


def test_keeps_the_peak_checkpoint_in_best_and_stops_when_patience_runs_out(curve):
  stop, best_bleu, best_step = _stop(curve["log"])
  bleu = _bleu_by_step(curve["log"])
  assert stop < MAX_STEPS and max(bleu) == stop  # it stopped early, after evaluating
  peak = max(bleu, key=lambda step: (bleu[step], -step))
  assert (best_step, best_bleu) == (peak, pytest.approx(bleu[peak], abs=1e-4))
  assert bleu[peak] > 5.0 and bleu[stop] < bleu[peak]  # it learned, then fell
  assert stop == peak + PATIENCE * EVERY
  with open(os.path.join(curve["out"], "best", "best.json")) as f:
    record = json.load(f)
  kept = [e["step"] for e in record["checkpoints"]]
  assert kept[0] == peak and len(kept) == 2
  assert sorted(kept, key=lambda s: -bleu[s]) == kept
  best = os.path.join(curve["out"], "best")
  # The rolling checkpoints (--keep_checkpoint_max=2) let the peak go; best/ kept it.
  assert not os.path.exists(os.path.join(curve["out"], f"model.ckpt-{peak}.index"))
  assert os.path.exists(os.path.join(best, f"model.ckpt-{peak}.index"))


def test_a_killed_and_resumed_run_stops_at_the_same_step_with_the_same_best(curve):
  out, lines = curve["killed"], curve["killed_lines"]
  assert curve["killed_status"] == -signal.SIGKILL, "".join(lines)
  assert not any(f"eval at step {2 * EVERY} " in line for line in lines)
  resumed = curve["resumed_log"]
  assert f"restored {out}/model.ckpt-{2 * EVERY}" in resumed
  # The evaluation the kill interrupted is done again, before training goes on.
  assert resumed.index(f"eval at step {2 * EVERY} ") < resumed.index("training from step")
  assert _stop(resumed) == _stop(curve["log"])
  reference = _bleu_by_step(curve["log"])
  assert _bleu_by_step(resumed) == {s: v for s, v in reference.items() if s >= 2 * EVERY}
  records = [json.load(open(os.path.join(d, "best", "best.json")))
             for d in (curve["out"], out)]
  assert records[0] == records[1]


def test_best_checkpoint_decodes_with_tuned_settings_saved_in_the_run(curve):
  out = str(curve["tmp"] / "tuned")
  shutil.copytree(curve["out"], out)
  peak = _stop(curve["log"])[2]
  tuned = run("t2t-decoder", f"--output_dir={out}", "--checkpoint=best",
              "--tune_decode_hparams", "--tune_alphas=0,1.5", "--tune_beam_sizes=1,3",
              "--tune_length_penalties=gnmt,none", "--save_decode_hparams",
              "--decode_hparams=num_samples=20")
  rows = [l for l in tuned.stdout.splitlines() if re.match(r"(gnmt|none) +\d", l)]
  # beam 1 once, beam 3 with gnmt at each alpha, beam 3 without a penalty once
  assert len(rows) == 4, tuned.stdout
  assert "using the exponential moving average of the weights" in tuned.stderr
  assert f"best/model.ckpt-{peak}" in tuned.stderr
  best = re.search(r"best: length_penalty=(\w+),beam_size=(\d+),alpha=([\d.]+)", tuned.stdout)
  with open(os.path.join(out, "decode.json")) as f:
    saved = json.load(f)
  assert (saved["length_penalty"], saved["beam_size"], saved["alpha"]) == (
      best.group(1), int(best.group(2)), float(best.group(3)))
  hyp = str(curve["tmp"] / "tuned.hyp")
  decoding = _spawn("t2t-decoder", f"--output_dir={out}", "--checkpoint=best",
                    f"--decode_from_file={curve['test_src']}", f"--decode_to_file={hyp}")
  averaging = _spawn("t2t-avg-checkpoints", f"--output_dir={out}", "--checkpoint=best",
                     "--n=2")
  refused = _spawn("t2t-decoder", f"--output_dir={out}", "--checkpoint_path=nonsense",
                   "--checkpoint=best")
  decoded, averaged, raw = _finish(decoding), _finish(averaging), _finish(refused, check=False)
  assert f"decode settings saved with the run ({out}/decode.json)" in decoded.stderr
  assert len(open(hyp).read().splitlines()) == 10
  assert f"averaged the best 2 checkpoints of {out}" in averaged.stdout
  assert os.path.exists(os.path.join(out, "averaged_best", f"model.ckpt-{peak}.index"))
  assert raw.returncode == 2 and "name two checkpoints" in raw.stderr


PROBLEM = "algorithmic_reverse_decimal40"


# Enough to end outputs with EOS after ONE_STEPS steps (TINY's learning rate is too high
# to).
REVERSE = ("batch_size=512,hidden_size=32,filter_size=64,num_heads=2,"
           "learning_rate_warmup_steps=50,learning_rate_constant=0.4,"
           "layer_prepostprocess_dropout=0,attention_dropout=0,relu_dropout=0")
ONE_STEPS = 120


@pytest.fixture(scope="module")
def reverse_runs(data_dir, tmp_path_factory):
  """Two briefly trained runs of the reverse problem (conftest's data), of different
  architectures: one layer, and two."""
  tmp = tmp_path_factory.mktemp("reverse")
  runs = []
  # "one" learns to end its outputs (the n-best lists need EOS); "two" only joins the
  # ensemble of different architectures, which any trained weights decode.
  trainers = []
  for name, layers, steps in (("one", 1, ONE_STEPS), ("two", 2, 10)):
    out = str(tmp / name)
    trainers.append(_spawn(
        "t2t-trainer", f"--problem={PROBLEM}", "--model=transformer",
        "--hparams_set=transformer_tiny", f"--hparams={REVERSE},num_hidden_layers={layers}",
        f"--data_dir={data_dir}", f"--output_dir={out}", f"--train_steps={steps}",
        "--schedule=train"))
    runs.append(out)
  for trainer in trainers:
    _finish(trainer, timeout=600)
  return {"tmp": tmp, "runs": runs,
          "src": _lines(tmp / "in.txt", ["1 2 3 4", "5 6 7", "8 9 0 1 2 3", "4"])}


def test_nbest_scores_are_sorted_and_equal_score_file(reverse_runs):
  from t2t_lite.decoding import nbest
  one, tmp = reverse_runs["runs"][0], reverse_runs["tmp"]
  listed = run("t2t-decoder", f"--output_dir={one}",
               f"--decode_from_file={reverse_runs['src']}",
               "--decode_hparams=beam_size=4,length_penalty=none,return_beams=true").stdout
  hypotheses = nbest.parse_nbest(listed)
  sources = open(reverse_runs["src"]).read().splitlines()
  assert [len(h) for h in hypotheses] == [4] * len(sources)
  for beams in hypotheses:
    scores = [score for _, score in beams]
    assert scores == sorted(scores, reverse=True)
  pairs = _lines(tmp / "pairs.tsv", [f"{s}\t{h}" for s, beams in zip(sources, hypotheses)
                                     for h, _ in beams])
  scored = run("t2t-decoder", f"--output_dir={one}", f"--score_file={pairs}").stdout
  rows = [line.split("\t") for line in scored.splitlines()]
  assert len(rows) == 4 * len(sources)
  compared = 0
  for (total, mean, per_token), (hyp, score), source in zip(
      rows, [b for h in hypotheses for b in h], [s for s in sources for _ in range(4)]):
    tokens = [float(x) for x in per_token.split()]
    assert len(tokens) == len(hyp.split()) + 1  # and EOS
    assert float(mean) == pytest.approx(float(total) / len(tokens), abs=1e-5)
    # A hypothesis that reached the length limit never chose EOS, which --score_file
    # scores (a complete output ends with it); the others are scored alike.
    if len(hyp.split()) < len(source.split()) + 1 + 50:
      assert float(total) == pytest.approx(score, abs=2e-4)
      compared += 1
  assert compared >= len(rows) // 2


def test_ensembles_decode_through_the_search_with_every_members_cache(reverse_runs):
  one, two = reverse_runs["runs"]
  src = reverse_runs["src"]
  decodes = [_spawn("t2t-decoder", f"--output_dir={one}", f"--decode_from_file={src}",
                    "--decode_hparams=beam_size=1"),
             _spawn("t2t-decoder", f"--ensemble={one},{one}", f"--decode_from_file={src}",
                    "--decode_hparams=beam_size=1"),
             _spawn("t2t-decoder", f"--ensemble={one},{two}", f"--decode_from_file={src}",
                    "--decode_hparams=beam_size=3")]
  alone, twins, mixed = (_finish(d) for d in decodes)
  alone, mixed = alone.stdout, mixed.stdout.splitlines()
  assert "decoding with an ensemble of 2 runs" in twins.stderr
  assert twins.stdout == alone
  assert len(mixed) == 4 and all(set(line.split()) <= set("0123456789") for line in mixed)
