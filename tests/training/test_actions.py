"""The actions plugged into the training loop, with stand-ins for what they act on."""
from t2t_lite.training import actions
from t2t_lite.training.actions import LoopEnd, LoopState


class Recorder:
  def __init__(self):
    self.calls = []

  def __getattr__(self, name):
    return lambda *args: self.calls.append(name) or f"saved-{len(self.calls)}"


def test_loop_state_is_at_every_multiple_and_at_its_target():
  loop = LoopState(step=200, target=250)
  assert loop.at(100) and not loop.at(300)
  loop.step = 250
  assert loop.at(100)


def test_checkpoint_saves_at_its_boundaries_and_ends_on_an_evaluations_reason():
  log, reasons = [], iter([None, "no improvement in 2 evaluations"])
  rollback, window, saver = Recorder(), Recorder(), Recorder()
  checkpoint = actions.Checkpoint(100, saver.save, lambda: next(reasons), rollback, window,
                                  log.append)
  assert checkpoint.limit(30, 1000) == 70  # a call ends at the next save
  assert checkpoint.after_call(LoopState(step=150, target=1000)) is None
  assert saver.calls == []
  assert checkpoint.after_call(LoopState(step=200, target=1000)) is None
  assert saver.calls == ["save"] and rollback.calls == ["checkpointed"]
  assert window.calls == ["restart_clock"]  # evaluation time is not training time
  end = checkpoint.after_call(LoopState(step=300, target=1000))
  assert end == LoopEnd(reason="no improvement in 2 evaluations")
  assert log == ["stopping at step 300: no improvement in 2 evaluations"]


class AgreeingRunner:
  def __init__(self, peer_stops):
    self.peer_stops = peer_stops

  def agreed_stop(self, reason):
    return reason or self.peer_stops


def test_a_peers_stop_request_saves_and_ends_training():
  log, saver = [], Recorder()
  stop = actions.StopOnSignal(AgreeingRunner(peer_stops=False), saver.save, log.append)
  assert stop.after_call(LoopState(step=10, target=100)) is None
  stop = actions.StopOnSignal(AgreeingRunner(peer_stops=True), saver.save, log.append)
  end = stop.after_call(LoopState(step=20, target=100))
  assert end == LoopEnd(signal=actions.PEER_STOP)
  assert log == [f"received {actions.PEER_STOP} at step 20: saved saved-1; rerun the same "
                 "command to resume"]
