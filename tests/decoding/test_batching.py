from t2t_lite.decoding.batching import map_length_sorted


def test_batches_hold_similar_lengths_and_results_keep_input_order():
  items = ["ccc", "a", "bbbb", "dd", "e", "ffffff", "gg"]
  batches = []

  def decode(batch):
    batches.append(batch)
    return [item.upper() for item in batch]
  assert map_length_sorted(items, 3, decode) == [item.upper() for item in items]
  assert [[len(x) for x in b] for b in batches] == [[1, 1, 2], [2, 3, 4], [6]]
  assert map_length_sorted([], 3, decode) == []
