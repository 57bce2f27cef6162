"""t2t-trainer: trains and evaluates a registered model on a registered problem.

  t2t-trainer --generate_data --problem=algorithmic_reverse_decimal40 \\
      --model=transformer --hparams_set=transformer_tiny --output_dir=runs/reverse \\
      --train_steps=5000 --hparams="batch_size=1024,learning_rate_warmup_steps=1000"

Rerunning the same command resumes from the latest checkpoint in --output_dir.
Every setting is also a gin binding; OUTPUT_DIR/config.gin reproduces a run:

  t2t-trainer --gin_file=runs/reverse/config.gin --output_dir=runs/reverse_again
"""
import os

import keras
import tensorflow as tf
from absl import flags

from t2t_lite import experiment, gin_config
from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS
from t2t_lite.errors import UserError
from t2t_lite.experiment import RunOptions
from t2t_lite.training import cluster, run_dir, strategies, watched_metric
from t2t_lite.training.best_checkpoints import BestCheckpoints
from t2t_lite.training.early_stopping import EarlyStopping
from t2t_lite.training.trainer import Trainer, TrainerOptions, log_line

common_flags.define_experiment_flags()
common_flags.define_flags(RunOptions, TrainerOptions)
flags.DEFINE_bool("generate_data", False, "Generate the problem's data into --data_dir first "
                  "(kept if it is already there).")

# The option groups whose flags are gin bindings (ExperimentOptions is always one).
GIN_GROUPS = (RunOptions, TrainerOptions)


def main(argv):
  names = common_flags.load_registrations_and_gin(*GIN_GROUPS)
  run_options = RunOptions.from_config()
  if cluster.is_server_task(run_options.strategy):  # a parameter_server worker or ps task
    return cluster.run_server()
  # A mirrored strategy on CPU must split the CPU before TensorFlow initializes devices.
  runner = strategies.make_runner(run_options.strategy, run_options.worker_gpu,
                                  run_options.tpu)
  options = TrainerOptions.from_config()
  common_flags.require(names, "problem", "model", "hparams_set", "output_dir")
  problem, model_cls, hparams = experiment.resolve(
      names.problem, names.model, names.hparams_set, FLAGS.hparams)
  overrides = experiment.overrides(names.hparams_set, hparams)

  output_dir = os.path.expanduser(FLAGS.output_dir)
  data_dir = common_flags.data_dir(names)
  run = {"problem": problem.name, "model": names.model, "hparams_set": names.hparams_set,
         "data_dir": os.path.abspath(data_dir)}
  run_dir.check_run(output_dir, run)
  common_flags.configure_problem(problem, data_dir, names)
  problem.check_split(options.eval_split)
  schedule = run_options.schedule
  if FLAGS.generate_data:
    if run_options.strategy == cluster.MULTI_WORKER and not cluster.is_chief():
      cluster.wait_for_data(problem, data_dir)  # the chief generates it
    else:
      problem.generate_data(data_dir, common_flags.tmp_dir(names))
  if schedule != "train":
    problem.data_files(data_dir, options.eval_split)
  if schedule.startswith("train"):
    problem.data_files(data_dir, "train")
  problem.update_hparams(hparams, data_dir)
  if schedule in ("evaluate", "continuous_eval"):
    # The run's own hparams; --hparams may change only what evaluation may.
    trained = run_dir.read_hparams(output_dir, wait_secs=(
        run_options.eval_timeout_secs if schedule == "continuous_eval" else 0))
    hparams = experiment.apply_eval_time_overrides(trained, FLAGS.hparams, model_cls)
  experiment.validate(problem, model_cls, hparams)  # now with the vocabulary sizes
  keras.utils.set_random_seed(options.seed)
  if run_options.deterministic:
    tf.config.experimental.enable_op_determinism()
  listeners = workflow_listeners(problem, options, output_dir, schedule)
  # Everything that can still fail on a user's input (model construction, the eval split,
  # the data files) fails here, before anything is written to output_dir.
  trainer = Trainer(problem, model_cls, hparams, output_dir, data_dir, options=options,
                    runner=runner, listeners=listeners)
  if schedule.startswith("train"):
    run_dir.prepare(output_dir, run, hparams)
    # config.gin alone reproduces the run: the resolved names, data_dir and hparams.
    gin_config.record(experiment.ExperimentOptions, problem=problem.name, model=names.model,
                      hparams_set=names.hparams_set, data_dir=run["data_dir"])
    gin_config.record(experiment.hparams_bindings, **overrides)
    if cluster.is_chief():  # one writer per run folder
      gin_config.write_config(output_dir, "t2t-trainer")
  if schedule == "train":
    trainer.restore()
    trainer.train()
  elif schedule == "train_and_evaluate":
    trainer.train_and_evaluate()
  elif schedule == "evaluate":
    if not trainer.restore(with_input=False):
      raise UserError(f"no checkpoint in {output_dir} to evaluate; train first")
    trainer.evaluate()
  else:
    trainer.continuous_eval(timeout_secs=run_options.eval_timeout_secs)
  if schedule.startswith("train") and cluster.is_chief():
    gin_config.write_config(output_dir, "t2t-trainer")  # now with the input pipeline's too


def workflow_listeners(problem, options, output_dir, schedule):
  """The evaluation listeners --best_metric and --early_stopping_patience ask for."""
  if not options.best_metric:
    return []
  if schedule != "train_and_evaluate":
    raise UserError(f"--best_metric watches the evaluations of --schedule=train_and_evaluate"
                    f", not --schedule={schedule}")
  metric = watched_metric.resolve(options.best_metric, problem, options.eval_decode_samples,
                                  options.early_stopping_min_delta)
  listeners = [BestCheckpoints(metric, options.keep_best_checkpoints, output_dir, log_line)]
  if options.early_stopping_patience:
    listeners.append(EarlyStopping(metric, options.early_stopping_patience, log_line))
  return listeners


def run():
  common_flags.run_main(main, "t2t-trainer")


if __name__ == "__main__":
  run()
