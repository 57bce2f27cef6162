"""Dynamic batching: request items that arrive within `max_delay_s` of the first waiting
one are decoded together, up to `max_batch_size` items or `max_batch_tokens` of input;
the first item waits only while requests arrive faster than one per `max_delay_s` (a
moving average of the gaps between them), so a lone client never waits for company;
each batch is sorted by length (less padding) and its results go back to each item's
future. One batch decodes at a time, in one worker thread, so the event loop keeps
accepting requests meanwhile (TensorFlow and CTranslate2 release the GIL) and the next
batch forms while this one decodes.

The queue is bounded: `submit` refuses items beyond `max_queue` (QueueFull, HTTP 429), so
a burst cannot grow memory or latency without bound. An item whose caller gave up (a
timeout) is dropped if it has not started decoding. `drain()` decodes what is queued and
returns once nothing is left: every accepted item is answered exactly once."""
import asyncio
import collections
import concurrent.futures
import dataclasses
import math
import time


class QueueFull(Exception):
  """The queue holds max_queue items; retry_after_s estimates when there is room."""

  def __init__(self, retry_after_s):
    super().__init__(f"the queue is full; retry in {retry_after_s} s")
    self.retry_after_s = retry_after_s


@dataclasses.dataclass(eq=False)
class Item:
  payload: object
  length: int
  n_best: int
  future: asyncio.Future
  arrived: float = dataclasses.field(default_factory=time.perf_counter)


class Batcher:

  def __init__(self, decode, max_batch_size, max_batch_tokens=0, max_delay_s=0.0,
               max_queue=256, on_batch=None):
    """decode(payloads, n_best) -> results, in order (run in the worker thread);
    on_batch(items, started, seconds, results) is told of each batch decoded."""
    self._decode = decode
    self.max_batch_size, self.max_batch_tokens = max_batch_size, max_batch_tokens
    self.max_delay_s, self.max_queue = max_delay_s, max_queue
    self._on_batch = on_batch or (lambda *args: None)
    self._pending = collections.deque()
    self._arrival = asyncio.Event()
    self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="decode")
    self._last_batch_s = 0.1
    self._task = None
    self._last_arrival = None
    self._mean_gap_s = float("inf")  # moving average of the time between requests

  @property
  def depth(self):
    return len(self._pending)

  def start(self):
    self._task = asyncio.get_running_loop().create_task(self._run())

  def submit(self, prepared, n_best=1):
    """Queues [(payload, length)] (one request's items, all or none); returns their
    futures."""
    if len(self._pending) + len(prepared) > self.max_queue:
      batches = math.ceil((len(self._pending) + len(prepared)) / self.max_batch_size)
      raise QueueFull(max(1, math.ceil(batches * self._last_batch_s)))
    loop = asyncio.get_running_loop()
    now = time.perf_counter()
    if self._last_arrival is not None:
      gap = now - self._last_arrival
      self._mean_gap_s = gap if math.isinf(self._mean_gap_s) else \
          0.8 * self._mean_gap_s + 0.2 * gap
    self._last_arrival = now
    items = [Item(payload, length, n_best, loop.create_future())
             for payload, length in prepared]
    self._pending.extend(items)
    self._arrival.set()
    return [item.future for item in items]

  async def drain(self):
    """Returns once every queued item has been decoded, then stops the worker."""
    while self._pending or (self._task and self._busy):
      await asyncio.sleep(0.01)
    if self._task:
      self._task.cancel()
    self._executor.shutdown(wait=True)

  _busy = False

  async def _wait_for_arrival(self, timeout=None):
    self._arrival.clear()
    try:
      await asyncio.wait_for(self._arrival.wait(), timeout)
    except TimeoutError:
      pass

  def _full(self):
    if len(self._pending) >= self.max_batch_size:
      return True
    return bool(self.max_batch_tokens) and \
        sum(item.length for item in self._pending) >= self.max_batch_tokens

  def _take(self):
    """The next batch: items in arrival order, skipping those whose caller gave up."""
    batch, tokens = [], 0
    while self._pending and len(batch) < self.max_batch_size:
      item = self._pending[0]
      if item.future.done():  # cancelled by a timeout before it was decoded
        self._pending.popleft()
        continue
      if batch and self.max_batch_tokens and tokens + item.length > self.max_batch_tokens:
        break
      batch.append(self._pending.popleft())
      tokens += item.length
    return batch

  async def _run(self):
    loop = asyncio.get_running_loop()
    while True:
      while not self._pending:
        await self._wait_for_arrival()
      deadline = self._pending[0].arrived + self.max_delay_s
      while (not self._full() and self._mean_gap_s < self.max_delay_s and
             time.perf_counter() < deadline):
        await self._wait_for_arrival(deadline - time.perf_counter())
      batch = sorted(self._take(), key=lambda item: item.length)
      if not batch:
        continue
      self._busy = True
      started = time.perf_counter()
      try:
        results = await loop.run_in_executor(self._executor, self._decode_each_on_error,
                                             batch)
      finally:
        self._busy = False
      seconds = time.perf_counter() - started
      self._last_batch_s = seconds
      for item, result in zip(batch, results):
        if item.future.done():
          continue
        if isinstance(result, Exception):
          item.future.set_exception(result)
        else:
          item.future.set_result(result)
      self._on_batch(batch, started, seconds, results)

  def _decode_each_on_error(self, batch):
    """The batch's results; if the batch fails, each item alone, so that one item's
    failure (an exception in its result's place) does not fail the others."""
    n_best = max(item.n_best for item in batch)
    try:
      return self._decode([item.payload for item in batch], n_best)
    except Exception as e:  # pylint: disable=broad-except
      if len(batch) == 1:
        return [e]
    results = []
    for item in batch:
      try:
        results.append(self._decode([item.payload], n_best)[0])
      except Exception as e:  # pylint: disable=broad-except
        results.append(e)
    return results
