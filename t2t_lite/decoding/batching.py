"""Decoding many inputs: in batches of similar length, results back in input order."""


def map_length_sorted(items, batch_size, decode_batch, length=len):
  """decode_batch(a list of items) -> their results, called on batches of up to
  `batch_size` items taken in order of length(item) (so a batch pads little); returns the
  results in the order of `items`."""
  order = sorted(range(len(items)), key=lambda i: length(items[i]))
  results = [None] * len(items)
  size = max(1, batch_size)
  for start in range(0, len(order), size):
    chosen = order[start:start + size]
    for i, result in zip(chosen, decode_batch([items[i] for i in chosen])):
      results[i] = result
  return results
