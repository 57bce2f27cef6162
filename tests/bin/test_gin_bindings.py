"""Flags and gin reach the binaries' option groups alike (flags > --gin_param > --gin_file >
a binary's preset > the declared default): each binary's configuration(), in this process,
from parsed flags."""
import pytest

from t2t_lite import gin_config
from t2t_lite.benchmark import BenchmarkOptions
from t2t_lite.bin import t2t_benchmark, t2t_bleu, t2t_decoder, t2t_sweep
from t2t_lite.bin.common_flags import FLAGS


@pytest.fixture
def parse():
  """Parses a command line into absl's FLAGS; leaves FLAGS and gin as they were."""
  was_parsed = FLAGS.is_parsed()

  def parse_(*argv):
    FLAGS.unparse_flags()
    gin_config.clear()
    FLAGS(list(argv))
  yield parse_
  FLAGS.unparse_flags()
  gin_config.clear()
  if was_parsed:
    FLAGS(["pytest"])


def test_bleu_settings_from_gin_files_params_and_flags(parse, tmp_path):
  config = tmp_path / "bleu.gin"
  config.write_text("Bleu.tokenize = 'intl'\nBleu.lowercase = True\n")
  parse("t2t-bleu", f"--gin_file={config}")
  settings = t2t_bleu.configuration()
  assert (settings.tokenize, settings.lowercase, settings.json) == ("intl", True, False)
  parse("t2t-bleu", f"--gin_file={config}", "--gin_param=Bleu.tokenize = 'char'",
        "--nolowercase", "--json")
  settings = t2t_bleu.configuration()
  assert (settings.tokenize, settings.lowercase, settings.json) == ("char", False, True)


def test_decoder_and_sweep_settings_from_gin(parse):
  parse("t2t-decoder", "--gin_param=Decoder.decode_split = 'test'",
        "--gin_param=TrainedRun.checkpoint = 'best'", "--decode_interactive")
  _, config = t2t_decoder.configuration()
  assert (config.decoding.decode_split, config.decoding.decode_interactive,
          config.trained.checkpoint) == ("test", True, "best")
  parse("t2t-sweep", "--gin_param=Sweep.parallel = 3", "--gin_param=Sweep.worker = True",
        "--gin_param=my_usr_model.width = 2")  # a trial's binding, of a directory not imported
  config = t2t_sweep.configuration()
  assert (config.settings.parallel, config.given) == (3, frozenset({"worker"}))
  assert config.gin_params[-1] == "my_usr_model.width = 2"  # passed on to the trials


def test_a_benchmark_setting_bound_in_gin_counts_as_given(parse):
  parse("t2t-benchmark", "--gin_param=Benchmark.beam_size = 3", "--batch=64")
  _, settings, _ = t2t_benchmark.configuration()
  assert (settings.beam_size, settings.batch, settings.steps) == (3, 64, 10)
  # What a model's own defaults may not replace (t2t_benchmark.main).
  assert set(BenchmarkOptions.gin_bindings()) == {"beam_size", "batch"}
