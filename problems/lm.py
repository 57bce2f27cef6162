"""Language-modeling problems: lines of your own text files, and LM1B via TFDS."""
from t2t_lite import options, registry
from t2t_lite.data import text_files, tfds_source
from t2t_lite.data.problem import DEV, TRAIN, ProblemSettings
from t2t_lite.data.text_problems import Text2SelfProblem
from t2t_lite.errors import UserError
from t2t_lite.options import setting


@options.group("TextFilesSettings")
class TextFilesSettings(ProblemSettings):
  train_files: str = setting("", "the training text: comma-separated glob patterns of "
                             "files, one example per line")
  dev_files: str = setting("", "the dev text, likewise (empty: a dev_fraction of the "
                           "training lines)")


@registry.register_problem
class LanguagemodelFromFiles(Text2SelfProblem):
  """Each non-empty line of train_files (comma-separated glob patterns) is one example;
  dev_files, or else a deterministic dev_fraction of the lines, is the dev split."""

  SETTINGS = (text_files.DevSplitSettings, TextFilesSettings)

  def generate_samples(self, data_dir, tmp_dir, split):
    s = self.settings
    if not s.train_files:
      raise UserError(f"problem {self.name} needs its text: --problem_settings="
                      "train_files=PATTERN (one example per line; comma-separate patterns)")
    if split == DEV and s.dev_files:
      lines = text_files.read_text_lines(
          text_files.expand_patterns(s.dev_files, "dev_files"), "dev_files")
      keep = lambda line: True  # noqa: E731
    else:
      lines = text_files.read_text_lines(
          text_files.expand_patterns(s.train_files, "train_files"), "train_files")
      want_dev = split == DEV
      keep = (lambda line: not want_dev) if s.dev_files else (
          lambda line: text_files.in_dev_split(line, s.dev_fraction) == want_dev)
    for line in lines:
      if keep(line):
        yield {"targets": line}


@registry.register_problem
class LanguagemodelLm1b32k(tfds_source.TFDSMixin, Text2SelfProblem):
  """The One Billion Word benchmark from TFDS (lm1b), sentencepiece ~32k; dev is its
  test split (LM1B has no other held-out split)."""

  tfds_name = "lm1b"
  tfds_splits = {TRAIN: "train", DEV: "test"}
  dataset_splits = ((TRAIN, 100), (DEV, 1))
  vocab_defaults = dict(Text2SelfProblem.vocab_defaults, approx_vocab_size=32768,
                        vocab_samples=500000)

  def generate_samples(self, data_dir, tmp_dir, split):
    for ex in self.tfds_examples(split):
      text = tfds_source.text(ex["text"]).strip()
      if text:
        yield {"targets": text}
