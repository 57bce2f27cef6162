"""bench/compare.py's summary: medians over rounds per implementation, MFU against the
t2t-benchmark peak, and failed runs kept out of the medians."""
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _compare():
  spec = importlib.util.spec_from_file_location("compare",
                                                os.path.join(ROOT, "bench", "compare.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_summary_takes_medians_and_skips_failures(capsys):
  compare = _compare()
  t2t = [dict(bench="t2t_benchmark", impl="t2t_lite", config="tiny", ms_per_step=ms,
              target_tokens_per_step=4096, gflop_per_step=50.0, peak_gflops={"fp32": peak},
              decode_ms_per_batch=d, decode_output_tokens_per_s=t)
         for ms, peak, d, t in ((100, 400, 10, 900), (300, 500, 30, 700), (200, 450, 20, 800))]
  tf = [dict(bench="seq2seq_train", impl="tf", config="tiny", ms_per_step_median=ms,
             tgt_tokens_per_step=4096, gflop_per_step=50.0) for ms in (400, 500)]
  failed = dict(impl="torch", config="tiny", error="exit 1: boom")
  table, peak = compare.summarize(t2t + tf + [failed], ["tiny"])
  assert peak == 450
  row = table["tiny"]["t2t_lite"]
  assert row["runs"] == 3 and row["ms"] == 200 and row["per_run"] == [100, 300, 200]
  assert row["throughput"] == 4096 / 0.2 and abs(row["mfu"] - 50 / 0.2 / 450) < 1e-9
  assert row["decode_ms"] == 20 and row["decode_tokens_per_s"] == 800
  assert table["tiny"]["tf"]["ms"] == 450 and "torch" not in table["tiny"]
  compare.print_table(table, peak, [failed])
  out = capsys.readouterr().out
  assert "| tiny | tf | 2 | 450.0 |" in out and "2.25x" in out
  assert "FAILED tiny torch: exit 1: boom" in out


def test_decode_summary_reads_each_implementations_own_fields(capsys):
  compare = _compare()
  records = [dict(impl="t2t_lite-tf", config="decode:small", decode_ms_per_batch=ms,
                  decode_output_tokens=2016) for ms in (2000, 2400, 2200)]
  records += [dict(impl="ct2-int8", config="decode:small", ms_per_step_median=ms,
                   out_tokens_per_call=2016) for ms in (1000, 1200)]
  records += [dict(impl="t2t_lite-ct2-float32", config="decode:small", error="exit 2: x"),
              dict(impl="t2t_lite", config="small", ms_per_step=500)]  # training: not here
  table = compare.summarize_decode(records, ["small"])
  assert set(table["small"]) == {"t2t_lite-tf", "ct2-int8"}
  assert table["small"]["t2t_lite-tf"]["decode_ms"] == 2200
  assert abs(table["small"]["ct2-int8"]["decode_tokens_per_s"] - 2016 / 1.1) < 1e-6
  compare.print_decode_table(table)
  assert "| small | ct2-int8 | 2 | 1,100.0 | 1000, 1200 | 1,832.7 | 0.50x |" in \
      capsys.readouterr().out


def test_kernel_summary_against_pytorch(capsys):
  compare = _compare()
  kernel_compare = compare.kernel_compare
  gemm = dict(id="gemm m8 n8 k8 NN forward fp32", kind="gemm", dtype="fp32", flops=2e9)
  t2t = [dict(impl="t2t_lite", peak_gflops={"fp32": peak, "bf16": 2 * peak},
              kernels=[dict(gemm, ms=ms)]) for ms, peak in ((10, 400), (20, 600), (30, 500))]
  torch = [dict(impl="torch", kernels=[dict(gemm, ms=ms)]) for ms in (40, 20, 60)]
  table, peak = kernel_compare.summarize(t2t + torch)
  assert peak == {"fp32": 500, "bf16": 1000}
  row = table[gemm["id"]]
  assert row["t2t_lite"]["ms"] == 20 and row["t2t_lite"]["gflops"] == 100
  assert row["t2t_lite"]["pct_of_peak"] == 20 and row["torch"]["ms"] == 40
  kernel_compare.print_table(table, peak, [], [dict(impl="torch", round=1, error="boom")])
  out = capsys.readouterr().out
  assert "| gemm m8 n8 k8 NN forward fp32 | 3 | 20.00 | 100.0 | 20.0% | 40.00 | 50.0 |" in out
  assert "2.00x" in out and "FAILED torch (round 2): boom" in out
