"""A sweep's report: curves from eval summaries, summary tables best first, a valid PNG."""
import csv
import os

import tensorflow as tf

from t2t_lite.sweep import report, runner
from t2t_lite.sweep.spec import Trial, trial_name


def _write_evals(output_dir, points):
  """Eval summaries as the trainer writes them: metrics/NAME scalars in OUTPUT_DIR/eval."""
  writer = tf.summary.create_file_writer(os.path.join(output_dir, "eval"))
  with writer.as_default():
    for step, values in points:
      for name, value in values.items():
        tf.summary.scalar(f"metrics/{name}", value, step=step)
  writer.flush()
  writer.close()


def _trials(tmp_path):
  specs = [({"hparams.learning_rate_constant": 0.5, "hparams.num_hidden_layers": 1}, -2.0),
           ({"hparams.learning_rate_constant": 1.0, "hparams.num_hidden_layers": 1}, -1.0),
           ({"hparams.learning_rate_constant": 2e-05, "hparams.num_hidden_layers": 1}, None)]
  trials, results = [], {}
  for i, (overrides, final) in enumerate(specs):
    t = Trial(i + 1, overrides, trial_name(overrides))
    trials.append(t)
    d = str(tmp_path / t.name)
    if final is not None:
      _write_evals(d, [(10, {"neg_log_perplexity": final - 1, "accuracy": 0.1}),
                       (20, {"neg_log_perplexity": final, "accuracy": 0.2})])
    results[t.name] = {"status": "finished" if final is not None else "failed",
                       "curves": report.eval_curves(d)}
  return trials, results


def test_curves_and_finished(tmp_path):
  d = str(tmp_path / "run")
  _write_evals(d, [(10, {"accuracy": 0.25}), (20, {"accuracy": 0.5})])
  _write_evals(d, [(20, {"accuracy": 0.75}), (30, {"accuracy": 0.875})])  # a resumed run
  curves = report.eval_curves(d)
  assert curves == {"accuracy": [(10, 0.25), (20, 0.75), (30, 0.875)]}
  assert report.final_metrics(curves) == {"accuracy": 0.875}
  assert runner.is_finished(d, 30) and not runner.is_finished(d, 40)
  assert report.eval_curves(str(tmp_path / "none")) == {}


def test_a_resumed_runs_file_of_the_same_second_wins_whatever_its_counter(tmp_path):
  # TensorFlow names event files ...tfevents.SECONDS.HOST.PID.COUNTER.v2: by name, counter
  # 10 sorts before 9. (A dotted host name must not confuse the order either.)
  d = tmp_path / "run"
  for counter, value in ((9, 0.5), (10, 0.75)):
    _write_evals(str(d / "new"), [(20, {"accuracy": value})])
    (d / "new" / "eval").rename(d / f"written{counter}")
    (d / "eval").mkdir(exist_ok=True)
    [written] = os.listdir(d / f"written{counter}")
    os.rename(d / f"written{counter}" / written,
              d / "eval" / f"events.out.tfevents.1796670716.vm.example.org.22062.{counter}.v2")
  assert report.eval_curves(str(d)) == {"accuracy": [(20, 0.75)]}


def test_summary_best_first_with_differing_settings(tmp_path):
  trials, results = _trials(tmp_path)
  table, keys, metrics = report.rows(trials, results, "neg_log_perplexity")
  assert keys == ["hparams.learning_rate_constant"]  # num_hidden_layers is the same in all
  assert metrics == ["accuracy", "neg_log_perplexity"]
  assert [r["trial"] for r in table] == [trials[1].name, trials[0].name, trials[2].name]
  assert table[0]["neg_log_perplexity"] == -1.0 and table[0]["step"] == 20
  assert table[2]["status"] == "failed" and table[2]["neg_log_perplexity"] == ""
  csv_path, md_path = report.write_summary(str(tmp_path), table)
  with open(csv_path) as f:
    read = list(csv.DictReader(f))
  assert [r["trial"] for r in read] == [r["trial"] for r in table]
  assert float(read[0]["hparams.learning_rate_constant"]) == 1.0
  md = open(md_path).read().splitlines()
  assert len(md) == 2 + 3 and md[0].startswith("| rank | trial | status |")
  assert md[2].startswith(f"| 1 | {trials[1].name} | finished | 1 |")
  assert "| 2e-05 |" in md[4]  # small values keep their digits


def test_plot_is_a_valid_png(tmp_path):
  trials, results = _trials(tmp_path)
  path = report.plot_curves(str(tmp_path / "curves.png"), trials, results, "neg_log_perplexity")
  image = tf.io.decode_png(tf.io.read_file(path))
  height, width, channels = image.shape
  assert height >= 300 and width >= 600 and channels in (3, 4)
  assert len({tuple(p) for p in image.numpy().reshape(-1, channels)[::97].tolist()}) > 5
  empty = report.plot_curves(str(tmp_path / "empty.png"), trials,
                             {t.name: {"status": "", "curves": {}} for t in trials}, "x")
  assert tf.io.decode_png(tf.io.read_file(empty)).shape[2] in (3, 4)
