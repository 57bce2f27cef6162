"""The dynamic batcher with a stand-in decode: batches sorted by length with each result
back to its caller, the size and token caps, a bounded queue, items whose caller gave up,
one failing item among others, and a drain that answers everything queued."""
import asyncio
import threading

import pytest

from t2t_lite.serving.batcher import Batcher, QueueFull


class Decode:
  """Records each batch; blocks while `gate` is clear; fails on the payload "bad"."""

  def __init__(self):
    self.batches = []
    self.gate = threading.Event()
    self.gate.set()

  def __call__(self, payloads, n_best):
    self.gate.wait(10)
    if "bad" in payloads:
      raise ValueError("cannot decode bad")
    self.batches.append(list(payloads))
    return [p.upper() for p in payloads]


def _run(scenario):
  return asyncio.run(asyncio.wait_for(scenario(), 30))


def test_items_arriving_together_are_one_batch_sorted_by_length():
  decode = Decode()

  async def scenario():
    batcher = Batcher(decode, max_batch_size=8, max_delay_s=0.2)
    batcher.start()
    batcher._mean_gap_s = 0.0  # requests are arriving fast: wait for the batch to fill
    words = ["ccc", "a", "bbbbb", "dd"]
    futures = [batcher.submit([(w, len(w))])[0] for w in words]
    results = await asyncio.gather(*futures)
    await batcher.drain()
    return words, results
  words, results = _run(scenario)
  assert results == [w.upper() for w in words]
  assert decode.batches == [["a", "dd", "ccc", "bbbbb"]]


def test_batches_close_at_the_size_and_token_caps():
  decode = Decode()

  async def scenario():
    batcher = Batcher(decode, max_batch_size=3, max_batch_tokens=6, max_delay_s=0.05)
    decode.gate.clear()  # everything is queued before the first batch decodes
    batcher.start()
    futures = batcher.submit([(w, len(w)) for w in ["aaaa", "bb", "c", "d", "e", "f"]])
    await asyncio.sleep(0.1)
    decode.gate.set()
    await asyncio.gather(*futures)
    await batcher.drain()
  _run(scenario)
  # aaaa + bb fill 6 tokens; c, d, e fill 3 items; f is left.
  assert decode.batches == [["bb", "aaaa"], ["c", "d", "e"], ["f"]]


def test_a_full_queue_refuses_a_whole_request_with_a_retry_estimate():
  decode = Decode()

  async def scenario():
    batcher = Batcher(decode, max_batch_size=1, max_queue=3)
    decode.gate.clear()
    batcher.start()
    first = batcher.submit([("a", 1)])
    await asyncio.sleep(0.05)  # "a" is decoding; the queue is empty again
    queued = batcher.submit([("b", 1), ("c", 1), ("d", 1)])
    with pytest.raises(QueueFull) as refused:
      batcher.submit([("e", 1)])
    assert batcher.depth == 3 and refused.value.retry_after_s >= 1
    decode.gate.set()
    return await asyncio.gather(*first, *queued)
  assert _run(scenario) == ["A", "B", "C", "D"]


def test_an_item_whose_caller_gave_up_is_not_decoded():
  decode = Decode()

  async def scenario():
    batcher = Batcher(decode, max_batch_size=1)
    decode.gate.clear()
    batcher.start()
    (first,) = batcher.submit([("a", 1)])
    (second,) = batcher.submit([("b", 1)])
    await asyncio.sleep(0.05)
    second.cancel()  # what a request timeout does
    decode.gate.set()
    await first
    await batcher.drain()
  _run(scenario)
  assert decode.batches == [["a"]]


def test_one_failing_item_does_not_fail_its_batch():
  decode = Decode()

  async def scenario():
    batcher = Batcher(decode, max_batch_size=4, max_delay_s=0.2)
    batcher._mean_gap_s = 0.0
    batcher.start()
    futures = batcher.submit([("x", 1), ("bad", 3), ("y", 1)])
    results = await asyncio.gather(*futures, return_exceptions=True)
    await batcher.drain()
    return results
  x, bad, y = _run(scenario)
  assert (x, y) == ("X", "Y")
  assert isinstance(bad, ValueError) and str(bad) == "cannot decode bad"


def test_drain_answers_everything_queued():
  decode = Decode()

  async def scenario():
    batcher = Batcher(decode, max_batch_size=2)
    decode.gate.clear()
    batcher.start()
    futures = batcher.submit([(w, 1) for w in "abcde"])
    draining = asyncio.ensure_future(batcher.drain())
    await asyncio.sleep(0.05)
    assert not draining.done()
    decode.gate.set()
    await draining
    return [f.result() for f in futures]
  assert _run(scenario) == list("ABCDE")
