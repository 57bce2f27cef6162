"""Reading examples of a tensorflow_datasets dataset for datagen.

Datagen goes through TFDS's own builder: download_and_prepare (a no-op when the data is
already prepared in tfds_data_dir) and as_dataset, so the same code runs against real data
and against tensorflow_datasets.testing.mock_data in tests.
"""
from t2t_lite import options
from t2t_lite.data.problem import ProblemSettings
from t2t_lite.errors import UserError
from t2t_lite.options import setting


def examples(name, split, tfds_data_dir="", download=True, max_examples=0):
  """Yields each example of `split` as a dict of numpy values (bytes for text)."""
  import tensorflow_datasets as tfds  # heavy import: only problems that read TFDS pay it
  try:
    builder = tfds.builder(name, data_dir=tfds_data_dir or None)
  except Exception as e:  # tfds raises several types for unknown names/configs
    raise UserError(f"TFDS dataset '{name}' is not available ({str(e).splitlines()[0]})") \
        from None
  if download:
    try:
      builder.download_and_prepare()
    except Exception as e:  # network, disk, manual-download datasets
      raise UserError(f"could not download and prepare TFDS dataset '{name}' into "
                      f"{builder.data_dir} ({str(e).splitlines()[0][:200]}); prepare it with "
                      "`tfds build` or pass --tfds_data_dir where it is") from None
  try:
    ds = builder.as_dataset(split=split, shuffle_files=False)
  except Exception as e:
    hint = "" if download else "; drop tfds_download=False to let datagen fetch it"
    raise UserError(f"TFDS dataset '{name}' split '{split}' is not in "
                    f"{tfds_data_dir or 'the default TFDS directory'} "
                    f"({str(e).splitlines()[0][:200]}){hint}") from None
  if max_examples:
    ds = ds.take(max_examples)
  yield from ds.as_numpy_iterator()


def text(value):
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@options.group("TFDSDirSettings")
class TFDSDirSettings(ProblemSettings):
  tfds_data_dir: str = setting("", "where tensorflow_datasets keeps its data (empty: the "
                               "binaries' --tfds_data_dir, else TFDS's own)")


@options.group("TFDSSettings")
class TFDSSettings(TFDSDirSettings):
  tfds_download: bool = setting(True, "download the dataset when it is not there")
  max_examples: int = setting(0, "examples per split at most (0: all)", minimum=0)


class TFDSMixin:
  """For a problem whose samples come from TFDS: set `tfds_name` and `tfds_splits` (our
  split -> TFDS split), and read `self.tfds_examples(split)` in generate_samples. Adds the
  settings tfds_data_dir, tfds_download and max_examples (per split; 0: all)."""

  SETTINGS = (TFDSSettings,)
  # Where TFDS keeps its files may change between runs without changing the data.
  RELOCATABLE_SETTINGS = ("tfds_data_dir", "tfds_download")

  def tfds_examples(self, split):
    s = self.settings
    return examples(self.tfds_name, self.tfds_splits[split], s.tfds_data_dir,
                    s.tfds_download, s.max_examples)
