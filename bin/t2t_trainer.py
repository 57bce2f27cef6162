"""t2t-trainer: trains and evaluates a registered model on a registered problem.

  t2t-trainer --generate_data --problem=algorithmic_reverse_decimal40 \\
      --model=transformer --hparams_set=transformer_tiny --output_dir=runs/reverse \\
      --train_steps=5000 --hparams="batch_size=1024,learning_rate_warmup_steps=1000"

Rerunning the same command resumes from the latest checkpoint in --output_dir.
"""
import os

from absl import flags

from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS

common_flags.define_registry_flags()
common_flags.define_dir_flags()
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
flags.DEFINE_integer("max_nonfinite_steps", 10,
                     "Updates with a NaN/Inf loss are skipped; after this many in a row the "
                     "run rolls back to its last checkpoint (and stops after 3 rollbacks).")


def main(argv):
  from t2t_lite import experiment
  from t2t_lite.training import cluster, strategies
  if cluster.is_server_task(FLAGS.strategy):  # a parameter_server worker or ps task
    return cluster.run_server()
  # First: a mirrored strategy on CPU must split the CPU before TensorFlow starts.
  strategy = strategies.make_strategy(FLAGS.strategy, FLAGS.worker_gpu, FLAGS.tpu)
  experiment.load_registrations(FLAGS.t2t_usr_dir)
  if FLAGS.registry_help:
    common_flags.print_registry_and_exit()
  common_flags.require("problem", "model", "hparams_set", "output_dir")
  problem, model_cls, hparams = experiment.resolve(
      FLAGS.problem, FLAGS.model, FLAGS.hparams_set, FLAGS.hparams)

  import keras
  from t2t_lite.training import run_dir
  from t2t_lite.training.distributed import trainer_class
  output_dir = os.path.expanduser(FLAGS.output_dir)
  data_dir = common_flags.data_dir()
  run = {"problem": problem.name, "model": FLAGS.model, "hparams_set": FLAGS.hparams_set,
         "data_dir": os.path.abspath(data_dir)}
  run_dir.check_run(output_dir, run)
  problem.check_split(FLAGS.eval_split)
  if FLAGS.generate_data:
    if FLAGS.strategy == cluster.MULTI_WORKER and not cluster.is_chief():
      cluster.wait_for_data(problem, data_dir)  # the chief generates it
    else:
      problem.generate_data(data_dir, common_flags.tmp_dir())
  if FLAGS.schedule != "train":
    problem.data_files(data_dir, FLAGS.eval_split)
  if FLAGS.schedule.startswith("train"):
    problem.data_files(data_dir, "train")
  problem.update_hparams(hparams, data_dir)
  if FLAGS.schedule in ("evaluate", "continuous_eval"):
    hparams = run_dir.read_hparams(output_dir, wait_secs=(
        FLAGS.eval_timeout_secs if FLAGS.schedule == "continuous_eval" else 0))
  keras.utils.set_random_seed(FLAGS.random_seed)
  if FLAGS.deterministic:
    import tensorflow as tf
    tf.config.experimental.enable_op_determinism()
  # Everything that can still fail on a user's input (model construction, the eval split,
  # the data files) fails here, before anything is written to output_dir.
  Trainer = trainer_class(strategy)
  trainer = Trainer(problem, model_cls, hparams, output_dir, data_dir,
                    train_steps=FLAGS.train_steps, eval_steps=FLAGS.eval_steps,
                    local_eval_frequency=FLAGS.local_eval_frequency,
                    keep_checkpoint_max=FLAGS.keep_checkpoint_max,
                    log_step_count_steps=FLAGS.log_step_count_steps,
                    seed=FLAGS.random_seed, eval_split=FLAGS.eval_split,
                    max_nonfinite_steps=FLAGS.max_nonfinite_steps, strategy=strategy)
  if FLAGS.schedule.startswith("train"):
    run_dir.prepare(output_dir, run, hparams)
  if FLAGS.schedule == "train":
    trainer.restore()
    trainer.train()
  elif FLAGS.schedule == "train_and_evaluate":
    trainer.train_and_evaluate()
  elif FLAGS.schedule == "evaluate":
    if not trainer.restore(with_input=False):
      from t2t_lite.errors import UserError
      raise UserError(f"no checkpoint in {output_dir} to evaluate; train first")
    trainer.evaluate()
  else:
    trainer.continuous_eval(timeout_secs=FLAGS.eval_timeout_secs)


def run():
  common_flags.run_main(main, "t2t-trainer")


if __name__ == "__main__":
  run()
