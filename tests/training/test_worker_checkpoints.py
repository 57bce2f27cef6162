"""Two tasks of a multi-worker run (threads here, agreeing through a barrier as the
workers' all-gather would): the model once, each task's input position, and the agreed
restore when a task's position is missing."""
import os
import threading

import tensorflow as tf

from t2t_lite.training.worker_checkpoints import WorkerKeeper, input_dir


class Gather:
  """gather(value) -> [every task's value], once every task has called it."""

  def __init__(self, tasks):
    self.values = [None] * tasks
    self.barrier = threading.Barrier(tasks)

  def for_task(self, rank):
    def gather(value):
      self.values[rank] = value
      self.barrier.wait()
      out = list(self.values)
      self.barrier.wait()
      return out
    return gather


class Task:
  def __init__(self, output_dir, rank, gather, num_workers=2, logs=None):
    self.weight = tf.Variable(0.0)
    self.input = iter(tf.data.Dataset.range(100 * rank, 100 * rank + 100))
    self.keeper = WorkerKeeper({"model": tf.train.Checkpoint(weight=self.weight)},
                               self.input, output_dir, 5,
                               (logs if logs is not None else []).append, gather,
                               is_chief=rank == 0, rank=rank, num_workers=num_workers)


def _in_parallel(*fns):
  results = [None] * len(fns)

  def call(i):
    results[i] = fns[i]()
  threads = [threading.Thread(target=call, args=(i,)) for i in range(len(fns))]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout=60)
  return results


def _train_and_save(tasks, steps):
  """Each task reads 3 elements per step; saves at every step in `steps`."""
  for step in steps:
    for task in tasks:
      task.weight.assign(float(step))
      for _ in range(3):
        next(task.input)
    _in_parallel(*[lambda t=t, s=step: t.keeper.save(s) for t in tasks])


def test_each_task_resumes_its_own_input_at_the_agreed_step(tmp_path):
  out = str(tmp_path)
  gather = Gather(2)
  first = [Task(out, r, gather.for_task(r)) for r in (0, 1)]
  _train_and_save(first, [2, 4])
  assert sorted(f for f in os.listdir(out) if f.endswith(".index")) == \
      ["model.ckpt-2.index", "model.ckpt-4.index"]  # the chief's only
  for rank in (0, 1):
    assert os.path.exists(os.path.join(input_dir(out, rank, 2), "model.ckpt-4.index"))
  expected = [int(next(t.input)) for t in first]

  again = [Task(out, r, gather.for_task(r)) for r in (0, 1)]
  paths = _in_parallel(*[lambda t=t: t.keeper.restore() for t in again])
  assert [os.path.basename(p) for p in paths] == ["model.ckpt-4", "model.ckpt-4"]
  assert [float(t.weight.numpy()) for t in again] == [4.0, 4.0]
  assert [int(next(t.input)) for t in again] == expected == [6, 106]


def test_a_task_without_its_position_costs_one_checkpoint_never_a_mismatch(tmp_path):
  out = str(tmp_path)
  gather = Gather(2)
  first = [Task(out, r, gather.for_task(r)) for r in (0, 1)]
  _train_and_save(first, [2, 4])
  # Task 1 died after the chief's save of step 4 and before its own.
  for f in os.listdir(input_dir(out, 1, 2)):
    if f.startswith("model.ckpt-4"):
      os.remove(os.path.join(input_dir(out, 1, 2), f))
  again = [Task(out, r, gather.for_task(r)) for r in (0, 1)]
  paths = _in_parallel(*[lambda t=t: t.keeper.restore() for t in again])
  assert [os.path.basename(p) for p in paths] == ["model.ckpt-2", "model.ckpt-2"]
  assert [float(t.weight.numpy()) for t in again] == [2.0, 2.0]
  assert [int(next(t.input)) for t in again] == [3, 103]


def test_a_cluster_of_another_size_restores_the_model_and_starts_its_input_afresh(tmp_path):
  out = str(tmp_path)
  gather = Gather(2)
  _train_and_save([Task(out, r, gather.for_task(r)) for r in (0, 1)], [2])
  gather3, logs = Gather(3), []
  bigger = [Task(out, r, gather3.for_task(r), num_workers=3, logs=logs) for r in (0, 1, 2)]
  paths = _in_parallel(*[lambda t=t: t.keeper.restore() for t in bigger])
  assert {os.path.basename(p) for p in paths} == {"model.ckpt-2"}
  assert [float(t.weight.numpy()) for t in bigger] == [2.0] * 3
  assert [int(next(t.input)) for t in bigger] == [0, 100, 200]
  assert any("starts afresh" in line for line in logs)


def test_nothing_to_restore(tmp_path):
  gather = Gather(2)
  tasks = [Task(str(tmp_path), r, gather.for_task(r)) for r in (0, 1)]
  assert _in_parallel(*[lambda t=t: t.keeper.restore() for t in tasks]) == [None, None]
