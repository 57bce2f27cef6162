"""Translation problems: from your own parallel files, and WMT'14 English-German via TFDS."""
import os

from t2t_lite import options, registry
from t2t_lite.data import text_files, tfds_source
from t2t_lite.data.problem import DEV, TRAIN, ProblemSettings
from t2t_lite.data.text_problems import Text2TextProblem
from t2t_lite.errors import UserError
from t2t_lite.options import setting


@options.group("ParallelFilesSettings")
class ParallelFilesSettings(ProblemSettings):
  train_tsv: str = setting("", "training pairs: source<TAB>target per line")
  train_source: str = setting("", "or the training sources, one per line, ...")
  train_target: str = setting("", "... and their targets, line-aligned")
  dev_tsv: str = setting("", "dev pairs, likewise (empty: a dev_fraction of the training "
                         "pairs)")
  dev_source: str = setting("", "or the dev sources ...")
  dev_target: str = setting("", "... and their targets")


@registry.register_problem
class TranslateFromFiles(Text2TextProblem):
  """A parallel corpus on disk, given by --problem_settings: train_tsv (source<TAB>target)
  or train_source + train_target (line-aligned files), and the same for dev; without dev
  files, a deterministic dev_fraction of the training pairs is held out."""

  dataset_splits = ((TRAIN, 10), (DEV, 1))

  SETTINGS = (text_files.DevSplitSettings, ParallelFilesSettings)

  def check_settings(self, s):
    s = super().check_settings(s)
    paths = [n for n, _, _, _ in ParallelFilesSettings.declarations() if getattr(s, n)]
    s = s.replace(**{n: os.path.abspath(os.path.expanduser(getattr(s, n))) for n in paths})
    for side in ("train", "dev"):
      tsv, source, target = (getattr(s, f"{side}_{k}") for k in ("tsv", "source", "target"))
      if tsv and (source or target):
        raise UserError(f"problem setting {side}_tsv excludes {side}_source/{side}_target: "
                        "give one or the other")
      if bool(source) != bool(target):
        raise UserError(f"problem settings {side}_source and {side}_target go together")
    return s

  def _pairs(self, side):
    s = self.settings
    tsv, source, target = (getattr(s, f"{side}_{k}") for k in ("tsv", "source", "target"))
    if tsv:
      return lambda: text_files.read_tsv_pairs(tsv, f"{side}_tsv")
    if source:
      return lambda: text_files.read_aligned_pairs(source, target, f"{side}_source",
                                                   f"{side}_target")
    return None

  def generate_samples(self, data_dir, tmp_dir, split):
    train = self._pairs("train")
    if train is None:
      raise UserError(f"problem {self.name} needs its training text: --problem_settings="
                      "train_tsv=PATH (source<TAB>target lines) or "
                      "'train_source=PATH,train_target=PATH' (line-aligned files)")
    dev = self._pairs("dev")
    if split == DEV and dev is not None:
      pairs = text_files.validated(dev)
    else:
      held_out = (lambda pair: False) if dev is not None else (
          lambda pair: text_files.in_dev_split("\t".join(pair), self.settings.dev_fraction))
      want_dev = split == DEV
      pairs = (p for p in text_files.validated(train) if held_out(p) == want_dev)
    for source, target in pairs:
      yield {"inputs": source, "targets": target}


@registry.register_problem
class TranslateEndeWmt32k(tfds_source.TFDSMixin, Text2TextProblem):
  """WMT'14 English->German from TFDS (wmt14_translate/de-en): dev is newstest2013, test
  newstest2014; a shared sentencepiece vocabulary of about 32k pieces."""

  tfds_name = "wmt14_translate/de-en"
  source_language, target_language = "en", "de"
  dataset_splits = ((TRAIN, 100), (DEV, 1), ("test", 1))
  tfds_splits = {TRAIN: "train", DEV: "validation", "test": "test"}
  vocab_defaults = dict(Text2TextProblem.vocab_defaults, approx_vocab_size=32768,
                        vocab_samples=500000)

  def generate_samples(self, data_dir, tmp_dir, split):
    for ex in self.tfds_examples(split):
      source = tfds_source.text(ex[self.source_language]).strip()
      target = tfds_source.text(ex[self.target_language]).strip()
      if source and target:
        yield {"inputs": source, "targets": target}
