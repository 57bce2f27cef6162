"""t2t-trainer: trains and evaluates a registered model on a registered problem.

  t2t-trainer --generate_data --problem=algorithmic_reverse_decimal40 \\
      --model=transformer --hparams_set=transformer_tiny --output_dir=runs/reverse \\
      --train_steps=5000 --hparams="batch_size=1024,learning_rate_warmup_steps=1000"

Rerunning the same command resumes from the latest checkpoint in --output_dir.
Every setting is also a gin binding; OUTPUT_DIR/config.gin reproduces a run:

  t2t-trainer --gin_file=runs/reverse/config.gin --output_dir=runs/reverse_again
"""
import dataclasses
import os

import keras
import tensorflow as tf

from t2t_lite import experiment, gin_config
from t2t_lite.bin import common_flags, trainer_flags
from t2t_lite.bin.common_flags import FLAGS
from t2t_lite.bin.trainer_flags import GIN_GROUPS
from t2t_lite.data import input_pipeline
from t2t_lite.data.manifest import DataCheckOptions
from t2t_lite.errors import UserError
from t2t_lite.experiment import ExperimentOptions, RunOptions
from t2t_lite.sweep import pruning
from t2t_lite.training import (
    cluster,
    provenance,
    run_dir,
    strategies,
    trial_options,
    watched_metric,
)
from t2t_lite.training.best_checkpoints import BestCheckpoints
from t2t_lite.training.early_stopping import EarlyStopping
from t2t_lite.training.schedules import SCHEDULES, Schedule
from t2t_lite.training.trainer import Controller, TrainerOptions, log_line

trainer_flags.define()  # every flag of t2t-trainer (t2t-launch parses them too)


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
  """Everything t2t-trainer reads from its flags and gin bindings, read once in main."""
  names: ExperimentOptions
  run: RunOptions
  schedule: Schedule
  trainer: TrainerOptions
  data_check: DataCheckOptions
  input: input_pipeline.InputOptions
  hparams: str  # --hparams
  output_dir: str | None
  data_dir: str | None
  tmp_dir: str | None
  generate_data: bool


def configuration():
  names = common_flags.load_registrations_and_gin(*GIN_GROUPS)
  run_options = RunOptions.from_config()
  if cluster.is_evaluator():  # TF_CONFIG's evaluator: evaluates what the trainers save
    run_options = run_options.replace(strategy="default", schedule="continuous_eval",
                                      all_reduce="auto", all_reduce_pack_bytes=0)
  return TrainerConfig(
      names=names, run=run_options, schedule=SCHEDULES[run_options.schedule],
      trainer=TrainerOptions.from_config(), data_check=DataCheckOptions.from_config(),
      input=input_pipeline.InputOptions.from_config(), hparams=FLAGS.hparams,
      output_dir=FLAGS.output_dir and os.path.expanduser(FLAGS.output_dir),
      data_dir=common_flags.data_dir(names), tmp_dir=common_flags.tmp_dir(names),
      generate_data=FLAGS.generate_data)


def main(argv):
  config = configuration()
  run_options, schedule = config.run, config.schedule
  if cluster.is_server_task(run_options.strategy):  # a parameter_server worker or ps task
    return cluster.run_server()
  # Thread pools, and a mirrored strategy's split of the CPU, before TensorFlow starts.
  common_flags.configure_threads(log_line)
  runner = strategies.make_runner(run_options.strategy, run_options.worker_gpu,
                                  run_options.tpu, run_options.all_reduce_settings())
  common_flags.require(config.names, "problem", "model", "hparams_set", "output_dir")
  problem, model_cls, hparams, overrides = prepare_experiment(config)
  keras.utils.set_random_seed(config.trainer.seed)
  if run_options.deterministic:
    tf.config.experimental.enable_op_determinism()
  # Everything that can still fail on a user's input (model construction, the eval split,
  # the data files) fails here, before anything is written to output_dir.
  controller = Controller(problem, model_cls, hparams, config.output_dir, config.data_dir,
                          options=config.trainer, runner=runner,
                          listeners=listeners(problem, config),
                          input_options=config.input)
  if schedule.trains:
    record_start(config, problem, hparams, overrides)
  schedule.run(controller, run_options.eval_timeout_secs)
  if schedule.trains and cluster.is_chief():
    gin_config.write_config(config.output_dir, "t2t-trainer")  # now with the input pipeline's too
  if controller.stop_signal:  # saved and stopped before train_steps
    return runner.stopped_exit_status


def prepare_experiment(config):
  """(problem, model class, hparams, the hparams overrides to record) of the run, with its
  data there and checked; the run's own hparams when the schedule evaluates a trained
  run (--hparams may change only what evaluation may)."""
  names, schedule, output_dir = config.names, config.schedule, config.output_dir
  problem, model_cls, requested = experiment.resolve(
      names.problem, names.model, names.hparams_set, config.hparams)
  # activation_dtype=auto: the dtype of the run being resumed, else this machine's choice;
  # hparams.json and config.gin record the dtype it became.
  run_dtype = _trained_dtype(output_dir)
  run_dir.check_run(output_dir, _run_record(problem, config))
  if schedule.trains:  # before anything is written (data_dir may be inside)
    run_dir.lock_for_training(output_dir)
  prepare_data(problem, config)
  if schedule.evaluates_a_trained_run:
    trained = run_dir.read_hparams(output_dir, wait_secs=(
        config.run.eval_timeout_secs if schedule.waits_for_the_run else 0))
    hparams = experiment.final_hparams(problem, model_cls, experiment.apply_eval_time_overrides(
        trained, config.hparams, model_cls), log=log_line)
  else:  # now with the vocabulary sizes
    hparams = experiment.final_hparams(problem, model_cls, requested, config.data_dir,
                                       log=log_line, run_dtype=run_dtype)
  if schedule.trains:  # max_length below every example: say so now
    input_pipeline.check_some_examples_fit(problem, hparams, problem.data_files(
        config.data_dir, "train"))
  return problem, model_cls, hparams, experiment.overrides(names.hparams_set, requested,
                                                           hparams)


def prepare_data(problem, config):
  """The problem's settings, its data generated if asked, and the splits the schedule
  reads checked: every shard there at its recorded size (and, with --verify_data, its
  SHA-256), without reading the data."""
  common_flags.configure_problem(problem, config.data_dir, config.names)
  problem.check_split(config.trainer.eval_split)
  if config.generate_data:
    if not cluster.is_chief():  # another worker, or the evaluator
      cluster.wait_for_data(problem, config.data_dir)  # the chief generates it
    else:
      problem.generate_data(config.data_dir, config.tmp_dir)
  problem.check_data(config.data_dir, config.schedule.splits(config.trainer.eval_split),
                     verify=config.data_check.verify_data)


def _run_record(problem, config):
  names = config.names
  return {"problem": problem.name, "model": names.model, "hparams_set": names.hparams_set,
          "data_dir": os.path.abspath(config.data_dir)}


def record_start(config, problem, hparams, overrides):
  """The run's records in output_dir (the chief's): run.json, hparams.json, provenance and
  config.gin, which alone reproduces the run (the resolved names, data_dir and hparams)."""
  output_dir, names, run = config.output_dir, config.names, _run_record(problem, config)
  if cluster.is_chief():  # the other workers write nothing into output_dir
    run_dir.prepare(output_dir, run, hparams)
    run_dir.record_start(output_dir, provenance.collect(
        problem, config.data_dir, config.schedule.splits(config.trainer.eval_split),
        strategy=config.run.strategy, schedule=config.run.schedule,
        cluster=cluster.fingerprint()))
  gin_config.record(experiment.ExperimentOptions, problem=problem.name, model=names.model,
                    hparams_set=names.hparams_set, data_dir=run["data_dir"])
  gin_config.record(experiment.hparams_bindings, **overrides)
  if cluster.is_chief():  # one writer per run folder
    gin_config.write_config(output_dir, "t2t-trainer")


def _trained_dtype(output_dir):
  """The activation_dtype in output_dir's hparams.json, if it holds a run."""
  if run_dir.read_run(output_dir) is None:
    return None
  try:
    return run_dir.read_hparams(output_dir).get("activation_dtype")
  except UserError:  # no hparams.json yet: a run that never got going
    return None


def listeners(problem, config):
  """Every task has the same checkpointed evaluation listeners (best checkpoints, early
  stopping); a trial of a t2t-sweep search also reports its evaluations to the study
  (study_trial.*), from the chief, which evaluates."""
  found = workflow_listeners(problem, config.trainer, config.output_dir, config.schedule,
                             config.run.schedule)
  if config.schedule.tells_listeners and cluster.is_chief():
    found += pruning.listeners(trial_options.configured(), log_line)
  return found


def workflow_listeners(problem, options, output_dir, schedule, schedule_name):
  """The evaluation listeners --best_metric and --early_stopping_patience ask for."""
  if not options.best_metric:
    return []
  if not schedule.tells_listeners:
    raise UserError(f"--best_metric watches the evaluations of --schedule=train_and_evaluate"
                    f", not --schedule={schedule_name}")
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
