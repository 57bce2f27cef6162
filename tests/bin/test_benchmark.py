import json

import pytest

from tests.bin.helpers import run

pytestmark = pytest.mark.slow


def test_smoke_benchmark_prints_parseable_json(data_dir):
  proc = run("t2t-benchmark", "--smoke", "--profile", "--problem=algorithmic_reverse_decimal40",
             f"--data_dir={data_dir}")
  result = json.loads(proc.stdout.splitlines()[0])
  for key in ["ms_per_step", "target_tokens_per_s", "gflop_per_step", "achieved_gflops",
              "mfu_vs_fp32_peak", "mfu", "decode_output_tokens_per_s", "input_examples_per_s",
              "padding_fraction", "input_speed_over_training", "peak_memory_mib"]:
    assert isinstance(result[key], (int, float)) and result[key] >= 0, key
  assert result["peak_gflops"]["fp32"] > 0 and result["params"] > 0
  assert result["precision"] == "fp32" and result["traces"] == 1
  assert "train ms/step (median)" in proc.stdout
  for key in ("profile", "decode_profile"):  # op-level time of training and decoding
    ops = result[key]["top_ops_ms_per_call"]
    assert any("MatMul" in op for op in ops), (key, ops)
  assert "top op types, ms per decoded batch:" in proc.stdout


def test_smoke_speech_benchmark_under_mirrored_strategy():
  proc = run("t2t-benchmark", "--smoke", "--model=deep_speech2",
             "--hparams_set=deep_speech2_tiny", "--strategy=mirrored", "--worker_gpu=2")
  result = json.loads(proc.stdout.splitlines()[0])
  assert result["replicas"] == 2 and result["batch"] == 2
  for key in ["audio_seconds_per_s", "gflop_per_step", "mfu", "decode_audio_s_per_s"]:
    assert isinstance(result[key], (int, float)) and result[key] > 0, key
  assert result["decode"].startswith("CTC")
  assert "audio seconds/s" in proc.stdout


def test_batch_must_split_over_the_replicas():
  proc = run("t2t-benchmark", "--smoke", "--strategy=mirrored", "--worker_gpu=2",
             "--batch=3", check=False)
  assert proc.returncode == 2
  assert "--batch=3 must be divisible by the 2 replicas" in proc.stderr


def test_ctranslate2_engine_decodes_the_exported_model_and_reports_export_sizes():
  pytest.importorskip("ctranslate2")
  proc = run("t2t-benchmark", "--smoke", "--decode_only", "--decode_engine=ctranslate2",
             "--quantization=int8", "--export_sizes")
  result = json.loads(proc.stdout.splitlines()[0])
  assert "ms_per_step" not in result  # --decode_only: no training step
  assert result["decode_engine"] == "ctranslate2" and "int8" in result["decode"]
  assert result["decode_output_tokens_per_s"] > 0 and result["decode_export_mib"] > 0
  sizes = result["export_mib"]
  assert sizes["savedmodel_bfloat16"] < 0.7 * sizes["savedmodel_float32"]
  assert sizes["ctranslate2_int8"] < 0.5 * sizes["ctranslate2_float32"]
  assert "export size ctranslate2_int8" in proc.stdout
  bad = run("t2t-benchmark", "--smoke", "--quantization=int8", check=False)
  assert bad.returncode == 2 and "--quantization is for --decode_engine=ctranslate2" in \
      bad.stderr


def test_deepbench_kernels_within_a_budget_and_again_from_their_list(tmp_path):
  proc = run("t2t-benchmark", "--kernels=deepbench", "--smoke", "--kernel_sets=inference_device",
             "--kernel_types=gemm,rnn", "--kernel_dtypes=fp32", "--kernel_budget_s=6")
  result = json.loads(proc.stdout.splitlines()[0])
  assert result["bench"] == "t2t_kernels" and result["source"]["repository"] == \
      "baidu-research/DeepBench"
  assert result["timed"] == len(result["kernels"]) > 0
  assert result["timed"] + result["skipped_count"] == 13 + 3  # the set's GEMMs and RNNs
  for k in result["kernels"]:
    assert k["gflops"] > 0 and k["pct_of_peak"] > 0 and k["sets"] == ["inference_device"]
  assert all(s["reason"] for s in result["skipped"])
  assert "| gemm | sets | phase | dtype | ms | GFLOP/s | % of peak |" in proc.stdout
  listed = tmp_path / "kernels.json"
  listed.write_text(proc.stdout.splitlines()[0])
  again = json.loads(run("t2t-benchmark", "--kernels=deepbench", "--smoke",
                         f"--kernel_list={listed}").stdout.splitlines()[0])
  assert [k["id"] for k in again["kernels"]] == [k["id"] for k in result["kernels"]]
  assert again["budget_s"] is None and again["skipped"] == []


def test_kernels_and_a_model_are_separate_runs():
  proc = run("t2t-benchmark", "--kernels=deepbench", "--model=transformer", check=False)
  assert proc.returncode == 2
  assert "--kernels=deepbench times kernels, not a model" in proc.stderr
