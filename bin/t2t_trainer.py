"""t2t-trainer: trains and evaluates a registered model on a registered problem.

  t2t-trainer --generate_data --problem=algorithmic_reverse_decimal40 \\
      --model=transformer --hparams_set=transformer_tiny --output_dir=runs/reverse \\
      --train_steps=5000 --hparams="batch_size=1024,learning_rate_warmup_steps=1000"

Rerunning the same command resumes from the latest checkpoint in --output_dir.
Every setting is also a gin binding; OUTPUT_DIR/config.gin reproduces a run:

  t2t-trainer --gin_file=runs/reverse/config.gin --output_dir=runs/reverse_again
"""
import os

from absl import flags

from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS

common_flags.define_registry_flags()
common_flags.define_dir_flags()
common_flags.define_problem_flags()
flags.DEFINE_bool("generate_data", False, "Generate the problem's data into --data_dir first "
                  "(kept if it is already there).")
flags.DEFINE_integer("train_steps", 250000, "Train until this global step.")
flags.DEFINE_integer("eval_steps", 100, "Eval batches per evaluation (0: the whole split).")
flags.DEFINE_enum("schedule", "train_and_evaluate",
                  ["train", "evaluate", "train_and_evaluate", "continuous_eval"],
                  "What to run: train only, evaluate the latest checkpoint once, train and "
                  "evaluate at every checkpoint, or evaluate each new checkpoint as it appears.")
flags.DEFINE_integer("local_eval_frequency", 1000,
                     "Save a checkpoint (and evaluate, with train_and_evaluate) every N steps.")
flags.DEFINE_integer("keep_checkpoint_max", 20, "How many recent checkpoints to keep.")
flags.DEFINE_integer("log_step_count_steps", 100, "Log loss and speed every N steps.")
flags.DEFINE_integer("random_seed", 1234, "Seed for initialization and input shuffling.")
flags.DEFINE_string("eval_split", "dev", "Which split to evaluate on (e.g. dev, dev_long).")
flags.DEFINE_integer("eval_timeout_secs", 3600,
                     "continuous_eval stops after this long without a new checkpoint.")
flags.DEFINE_enum("strategy", "default", ["default", "one_device", "mirrored",
                                           "multi_worker_mirrored", "parameter_server", "tpu"],
                  "tf.distribute strategy: default (one device), one_device, mirrored (all "
                  "local GPUs, or --worker_gpu of them; on CPU, that many logical devices), "
                  "multi_worker_mirrored / parameter_server (the cluster in TF_CONFIG; see "
                  "t2t-local-cluster), tpu (--tpu).")
flags.DEFINE_string("tpu", None, "For --strategy=tpu: the Cloud TPU's name or grpc:// "
                    "address, or 'local' on a TPU VM.")
flags.DEFINE_integer("worker_gpu", 0, "Replicas for --strategy=mirrored (0: all GPUs).")
flags.DEFINE_bool("deterministic", False,
                  "Deterministic ops (TF op determinism; seeds from --random_seed): a run "
                  "killed at any step and rerun ends bit-identical to an uninterrupted one.")
flags.DEFINE_integer("eval_decode_samples", 100,
                     "For problems scored on decoded text (translation: BLEU), decode this "
                     "many examples of the eval split at each evaluation (0: skip).")
flags.DEFINE_string("eval_decode_hparams", "beam_size=4,alpha=0.6",
                    "Search settings for those decodes (as t2t-decoder's --decode_hparams).")
flags.DEFINE_integer("max_nonfinite_steps", 10,
                     "Updates with a NaN/Inf loss are skipped; after this many in a row the "
                     "run rolls back to its last checkpoint (and stops after 3 rollbacks).")

flags.DEFINE_bool("xla", False,
                  "Compile the training step with XLA (jit_compile). Each new batch shape "
                  "compiles anew: use fixed shapes (e.g. packed inputs) to compile once.")


# Flags that bind the Trainer's and the run's gin parameters (their defaults are the code's;
# tests/test_gin_config.py checks that they agree).
TRAINER_BINDINGS = {
    "train_steps": "Trainer.train_steps", "eval_steps": "Trainer.eval_steps",
    "local_eval_frequency": "Trainer.local_eval_frequency",
    "keep_checkpoint_max": "Trainer.keep_checkpoint_max",
    "log_step_count_steps": "Trainer.log_step_count_steps", "random_seed": "Trainer.seed",
    "eval_split": "Trainer.eval_split", "max_nonfinite_steps": "Trainer.max_nonfinite_steps",
    "eval_decode_samples": "Trainer.eval_decode_samples",
    "eval_decode_hparams": "Trainer.eval_decode_hparams", "xla": "Trainer.jit_compile",
    "schedule": "run.schedule", "strategy": "run.strategy", "worker_gpu": "run.worker_gpu",
    "deterministic": "run.deterministic", "eval_timeout_secs": "run.eval_timeout_secs",
}


def main(argv):
  from t2t_lite import experiment, gin_config
  from t2t_lite.training import cluster, strategies
  from t2t_lite.training.trainer import Trainer
  experiment.load_registrations(FLAGS.t2t_usr_dir)
  if FLAGS.registry_help:
    common_flags.print_registry_and_exit()
  names = common_flags.parse_gin(TRAINER_BINDINGS)
  settings = experiment.run_settings()
  if cluster.is_server_task(settings.strategy):  # a parameter_server worker or ps task
    return cluster.run_server()
  # A mirrored strategy on CPU must split the CPU before TensorFlow starts (imports do not).
  strategy = strategies.make_strategy(settings.strategy, settings.worker_gpu, FLAGS.tpu)
  common_flags.require("problem", "model", "hparams_set", "output_dir")
  problem, model_cls, hparams = experiment.resolve(
      names.problem, names.model, names.hparams_set, FLAGS.hparams)
  overrides = experiment.overrides(names.hparams_set, hparams)

  import keras
  from t2t_lite.training import run_dir
  from t2t_lite.training.distributed import trainer_class
  output_dir = os.path.expanduser(FLAGS.output_dir)
  data_dir = common_flags.data_dir()
  run = {"problem": problem.name, "model": names.model, "hparams_set": names.hparams_set,
         "data_dir": os.path.abspath(data_dir)}
  run_dir.check_run(output_dir, run)
  common_flags.configure_problem(problem, data_dir)
  eval_split = gin_config.value(Trainer, "eval_split")
  problem.check_split(eval_split)
  if FLAGS.generate_data:
    if settings.strategy == cluster.MULTI_WORKER and not cluster.is_chief():
      cluster.wait_for_data(problem, data_dir)  # the chief generates it
    else:
      problem.generate_data(data_dir, common_flags.tmp_dir())
  if settings.schedule != "train":
    problem.data_files(data_dir, eval_split)
  if settings.schedule.startswith("train"):
    problem.data_files(data_dir, "train")
  problem.update_hparams(hparams, data_dir)
  if settings.schedule in ("evaluate", "continuous_eval"):
    hparams = run_dir.read_hparams(output_dir, wait_secs=(
        settings.eval_timeout_secs if settings.schedule == "continuous_eval" else 0))
  keras.utils.set_random_seed(gin_config.value(Trainer, "seed"))
  if settings.deterministic:
    import tensorflow as tf
    tf.config.experimental.enable_op_determinism()
  # Everything that can still fail on a user's input (model construction, the eval split,
  # the data files) fails here, before anything is written to output_dir. The Trainer's
  # settings come from gin (and the flags bound into it); the strategy picks its class.
  trainer = trainer_class(strategy)(problem, model_cls, hparams, output_dir, data_dir,
                                    strategy=strategy)
  if settings.schedule.startswith("train"):
    run_dir.prepare(output_dir, run, hparams)
    # config.gin alone reproduces the run: the resolved names, data_dir and hparams.
    gin_config.record(experiment.names, problem=problem.name, model=names.model,
                      hparams_set=names.hparams_set, data_dir=run["data_dir"])
    gin_config.record(experiment.hparams_bindings, **overrides)
    if cluster.is_chief():  # one writer per run folder
      gin_config.write_config(output_dir, "t2t-trainer")
  if settings.schedule == "train":
    trainer.restore()
    trainer.train()
  elif settings.schedule == "train_and_evaluate":
    trainer.train_and_evaluate()
  elif settings.schedule == "evaluate":
    if not trainer.restore(with_input=False):
      from t2t_lite.errors import UserError
      raise UserError(f"no checkpoint in {output_dir} to evaluate; train first")
    trainer.evaluate()
  else:
    trainer.continuous_eval(timeout_secs=settings.eval_timeout_secs)
  if settings.schedule.startswith("train") and cluster.is_chief():
    gin_config.write_config(output_dir, "t2t-trainer")  # now with the input pipeline's too


def run():
  common_flags.run_main(main, "t2t-trainer")


if __name__ == "__main__":
  run()
