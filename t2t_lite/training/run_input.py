"""The batched tf.data pipelines of a run's splits, and what a tf.data failure says."""
import tensorflow as tf

from t2t_lite.data import input_pipeline
from t2t_lite.errors import UserError

# The tf.data failures that a damaged data file causes (among others).
DATA_ERRORS = (tf.errors.DataLossError, tf.errors.InvalidArgumentError)


def dataset_fn(problem, hparams, data_dir, split, training, seed, input_options):
  """input_context -> the split's batched tf.data pipeline (for the runner)."""
  problem.data_files(data_dir, split)  # a clear error before tf.data starts

  def fn(input_context=None):
    return input_pipeline.make_dataset(problem, hparams, data_dir, split, training,
                                       seed=seed, input_context=input_context,
                                       input_options=input_options)
  return fn


def data_error(problem, data_dir, split, error):
  """A UserError naming the damaged file behind a tf.data failure, or None when every
  file reads fine (then the error is not the data's, and keeps its traceback)."""
  files = problem.data_files(data_dir, split)
  bad = input_pipeline.find_corrupt_file(problem, files)
  if bad is None:
    return None
  return UserError(f"data file {bad} is damaged "
                   f"({error.message.strip().splitlines()[0][:120]}); delete it and "
                   f"run t2t-datagen --problem={problem.name} again")
