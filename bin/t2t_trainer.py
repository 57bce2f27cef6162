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

from t2t_lite import experiment, gin_config, mixed_precision
from t2t_lite.bin import common_flags, trainer_flags
from t2t_lite.bin.common_flags import FLAGS
from t2t_lite.bin.trainer_flags import GIN_GROUPS
from t2t_lite.data import input_pipeline
from t2t_lite.data.manifest import DataCheckOptions
from t2t_lite.errors import UserError
from t2t_lite.experiment import RunOptions
from t2t_lite.sweep import pruning
from t2t_lite.training import cluster, provenance, run_dir, strategies, watched_metric
from t2t_lite.training.best_checkpoints import BestCheckpoints
from t2t_lite.training.early_stopping import EarlyStopping
from t2t_lite.training.trainer import Trainer, TrainerOptions, log_line

trainer_flags.define()  # every flag of t2t-trainer (t2t-launch parses them too)


def main(argv):
  names = common_flags.load_registrations_and_gin(*GIN_GROUPS)
  run_options = RunOptions.from_config()
  if cluster.is_evaluator():  # TF_CONFIG's evaluator: evaluates what the trainers save
    run_options = run_options.replace(strategy="default", schedule="continuous_eval",
                                      all_reduce="auto", all_reduce_pack_bytes=0)
  options = TrainerOptions.from_config()
  data_check = DataCheckOptions.from_flags(FLAGS)
  if cluster.is_server_task(run_options.strategy):  # a parameter_server worker or ps task
    return cluster.run_server()
  # Thread pools, and a mirrored strategy's split of the CPU, before TensorFlow starts.
  common_flags.configure_threads(log_line)
  runner = strategies.make_runner(run_options.strategy, run_options.worker_gpu,
                                  run_options.tpu, run_options.all_reduce_settings())
  common_flags.require(names, "problem", "model", "hparams_set", "output_dir")
  problem, model_cls, hparams = experiment.resolve(
      names.problem, names.model, names.hparams_set, FLAGS.hparams)
  output_dir = os.path.expanduser(FLAGS.output_dir)
  # activation_dtype=auto: the dtype of the run being resumed, else this machine's choice;
  # hparams.json and config.gin record the dtype it became.
  mixed_precision.resolve_auto(hparams, log_line, _trained_dtype(output_dir))
  overrides = experiment.overrides(names.hparams_set, hparams)

  data_dir = common_flags.data_dir(names)
  run = {"problem": problem.name, "model": names.model, "hparams_set": names.hparams_set,
         "data_dir": os.path.abspath(data_dir)}
  run_dir.check_run(output_dir, run)
  schedule = run_options.schedule
  if schedule.startswith("train"):  # before anything is written (data_dir may be inside)
    run_dir.lock_for_training(output_dir)
  common_flags.configure_problem(problem, data_dir, names)
  problem.check_split(options.eval_split)
  if FLAGS.generate_data:
    if not cluster.is_chief():  # another worker, or the evaluator
      cluster.wait_for_data(problem, data_dir)  # the chief generates it
    else:
      problem.generate_data(data_dir, common_flags.tmp_dir(names))
  # The data is checked before the first step: every shard there at its recorded size
  # (and, with --verify_data, its SHA-256), without reading the data.
  splits = (["train"] if schedule.startswith("train") else []) + (
      [options.eval_split] if schedule != "train" else [])
  problem.check_data(data_dir, splits, verify=data_check.verify_data)
  problem.update_hparams(hparams, data_dir)
  if schedule in ("evaluate", "continuous_eval"):
    # The run's own hparams; --hparams may change only what evaluation may.
    trained = run_dir.read_hparams(output_dir, wait_secs=(
        run_options.eval_timeout_secs if schedule == "continuous_eval" else 0))
    hparams = experiment.apply_eval_time_overrides(trained, FLAGS.hparams, model_cls)
    mixed_precision.resolve_auto(hparams, log_line)
  experiment.validate(problem, model_cls, hparams)  # now with the vocabulary sizes
  if schedule.startswith("train"):  # max_length below every example: say so now
    input_pipeline.check_some_examples_fit(problem, hparams, problem.data_files(data_dir,
                                                                                "train"))
  keras.utils.set_random_seed(options.seed)
  if run_options.deterministic:
    tf.config.experimental.enable_op_determinism()
  # Everything that can still fail on a user's input (model construction, the eval split,
  # the data files) fails here, before anything is written to output_dir.
  # Every task has the same checkpointed listeners (best checkpoints, early stopping).
  listeners = workflow_listeners(problem, options, output_dir, schedule)
  if schedule == "train_and_evaluate" and cluster.is_chief():  # the chief evaluates
    # A trial of a t2t-sweep search reports its evaluations to the study (study_trial.*).
    listeners += pruning.listeners(pruning.configured(), log_line)
  trainer = Trainer(problem, model_cls, hparams, output_dir, data_dir, options=options,
                    runner=runner, listeners=listeners,
                    input_options=input_pipeline.InputOptions.from_config())
  if schedule.startswith("train"):
    if cluster.is_chief():  # the other workers write nothing into output_dir
      run_dir.prepare(output_dir, run, hparams)
      run_dir.record_start(output_dir, provenance.collect(
          problem, data_dir, splits, strategy=run_options.strategy,
          schedule=schedule, cluster=cluster.fingerprint()))
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
  if trainer.stop_signal:  # saved and stopped before train_steps
    return runner.stopped_exit_status


def _trained_dtype(output_dir):
  """The activation_dtype in output_dir's hparams.json, if it holds a run."""
  if run_dir.read_run(output_dir) is None:
    return None
  try:
    return run_dir.read_hparams(output_dir).get("activation_dtype")
  except UserError:  # no hparams.json yet: a run that never got going
    return None


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
  # In a cluster, a peer's failure anywhere (also while starting) exits for a restart.
  common_flags.run_main(cluster.restart_when_a_peer_fails(main), "t2t-trainer")


if __name__ == "__main__":
  run()
