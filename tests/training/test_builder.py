"""The objects a run is made of (builder), the batched pipelines of its splits and what a
damaged file says (run_input), and its evaluation (evaluator), on a tiny Transformer."""
import os
import shutil

import pytest

from t2t_lite import experiment
from t2t_lite.data.input_pipeline import InputOptions
from t2t_lite.errors import UserError
from t2t_lite.training import builder, evaluator, run_input, strategies
from t2t_lite.training.trainer_options import TrainerOptions
from tests.training.test_trainer import TINY, data_dir  # noqa: F401 (fixture)

OPTIONS = TrainerOptions(train_steps=4, eval_steps=2, seed=1, effective_batch_size=512)


@pytest.fixture(scope="module")
def run(data_dir, tmp_path_factory):  # noqa: F811 (the fixture above)
  problem, model_cls, requested = experiment.resolve(
      "algorithmic_reverse_decimal40", "transformer", "transformer_tiny", TINY + ",ema_decay=0.5")
  hp = experiment.final_hparams(problem, model_cls, requested, data_dir)
  runner, logs = strategies.make_runner("default"), []
  state = builder.build(problem, model_cls, hp, OPTIONS, runner,
                        str(tmp_path_factory.mktemp("run")), logs.append)
  return problem, hp, runner, state, logs


def test_build_makes_the_runs_objects_and_the_steps_hparams(run):
  _, hp, _, state, logs = run
  assert (int(state.global_step.numpy()), int(state.evaluated_step.numpy())) == (0, -1)
  assert state.model.trainable_variables and state.ema is not None  # ema_decay > 0
  assert len(state.ema.averages) == len(state.model.trainable_variables)
  assert {"model", "optimizer", "global_step"} <= set(state.checkpointed())
  # 512 tokens per update from batches of 256 on one device: 2 micro-batches a step; the
  # run's own hparams (resolved, frozen) keep what was given.
  assert state.step_fn.hparams.gradient_accumulation_steps == 2
  assert hp.gradient_accumulation_steps == 1
  assert any(line.startswith("effective batch: 512 tokens per update") for line in logs)


def test_the_pipelines_of_a_split_and_a_damaged_file(run, data_dir, tmp_path):  # noqa: F811
  problem, hp, *_ = run
  batch = next(iter(run_input.dataset_fn(problem, hp, data_dir, "dev", False, 1,
                                         InputOptions())()))
  assert {"inputs", "targets"} <= set(batch) and batch["targets"].dtype.name == "int32"
  assert run_input.data_error(problem, data_dir, "dev", ValueError("x")) is None  # all read
  damaged = str(tmp_path / "data")
  shutil.copytree(data_dir, damaged)
  (dev,) = problem.data_files(damaged, "dev")
  with open(dev, "r+b") as f:
    f.seek(os.path.getsize(dev) // 2)
    f.write(b"\xff" * 64)
  error = run_input.data_error(problem, damaged, "dev", type("E", (), {
      "message": "corrupted record at 12\nmore"})())
  assert isinstance(error, UserError)
  assert str(error) == (f"data file {dev} is damaged (corrupted record at 12); delete it and "
                        "run t2t-datagen --problem=algorithmic_reverse_decimal40 again")


def test_evaluation_of_the_eval_split(run, data_dir):  # noqa: F811
  problem, hp, runner, state, logs = run
  with pytest.raises(UserError, match="--eval_split=test: problem "
                                      "'algorithmic_reverse_decimal40' has splits"):
    evaluator.check_problem(problem, "test")
  evaluate = evaluator.Evaluator(problem, state.model, hp, data_dir, OPTIONS, runner,
                                 state.ema, logs.append, InputOptions())
  results, examples = evaluate.evaluate()
  assert set(results) == {"accuracy", "accuracy_per_sequence", "neg_log_perplexity"}
  assert 0 <= results["accuracy"] <= 1 and results["neg_log_perplexity"] < 0
  assert 0 < examples <= 200  # eval_steps=2 batches of the 200 dev examples
