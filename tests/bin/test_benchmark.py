import json

import pytest

from tests.bin.helpers import run

pytestmark = pytest.mark.slow


def test_smoke_benchmark_prints_parseable_json(data_dir):
  proc = run("t2t-benchmark", "--smoke", "--problem=algorithmic_reverse_decimal40",
             f"--data_dir={data_dir}")
  result = json.loads(proc.stdout.splitlines()[0])
  for key in ["ms_per_step", "target_tokens_per_s", "gflop_per_step", "achieved_gflops",
              "mfu_vs_fp32_peak", "decode_output_tokens_per_s", "input_examples_per_s",
              "padding_fraction", "input_speed_over_training", "peak_memory_mib"]:
    assert isinstance(result[key], (int, float)) and result[key] >= 0, key
  assert result["peak_gflops"]["fp32"] > 0 and result["params"] > 0
  assert "train ms/step (median)" in proc.stdout
