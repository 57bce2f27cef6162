"""The Problem API: how a dataset becomes TFRecords, encoders and eval metrics.

A problem never builds layers and never trains; it owns its data: generating it into
sharded TFRecords in data_dir, its vocabulary files, parsing examples back, and naming the
metrics its evaluation reports. Everything the engine calls is declared here:

  dataset_splits, has_inputs          what data there is
  feature_encoders, write_vocab       the vocabulary (text <-> ids)
  generate_encoded_samples            the examples (or override generate_data)
  data_files, check_data              a split's shards, checked against the manifest datagen
                                      wrote (manifest.py) before any data is read
  shard_sets                          the names its shards and manifests are written under
  decode_example, preprocess_example  TFRecord -> model features, inside tf.data
  sort_length                         a decoded example's length (SortaGrad's order)
  feature_spec                        what preprocess_example yields (checked at start
                                      against the pipeline and against the model's needs)
  HPARAMS                             hparams preprocess_example reads
  eval_metrics                        teacher-forced metrics (names in metrics.METRICS)
  decode_metrics                      metrics of decoded text (names in DECODED_METRICS)
  emits                               what decoding reads ("text", "ctc_frames"): the key
                                      of its decoder and exporter in the registry
  detokenizer                         in-graph ids -> text, for text metrics (WER/CER)
  weighted_data_files                 the training files and the rates to sample them by
  evaluation_parts                    parts evaluated (and reported) on their own
                                      (a mixture's members)
"""
import abc
import json
import os
from typing import ClassVar

import tensorflow as tf

from t2t_lite import hparams_lib, options, registry, writer_lock
from t2t_lite.data import generator_utils, manifest
from t2t_lite.data.text_encoder import ensure_dir
from t2t_lite.errors import UserError
from t2t_lite.hparams_lib import HParams

TRAIN, DEV = "train", "dev"


@options.group("ProblemSettings")
class ProblemSettings(options.Options):
  """Base of a problem's settings groups: named inside --problem_settings, not flags."""
  field_flags = False


# The feature the input pipeline adds to training examples of problems that use_example_seeds.
EXAMPLE_SEED = "example_seed"


class Problem(abc.ABC):
  """Base class. Subclasses implement `feature_encoders` and `generate_encoded_samples`."""

  registered_name: ClassVar[str | None] = None  # set by registry.register_problem
  # (split name, number of shards). Subclasses may add splits (e.g. a long-length dev set).
  dataset_splits: ClassVar[tuple[tuple[str, int], ...]] = ((TRAIN, 10), (DEV, 1))
  has_inputs: ClassVar[bool] = True
  # What decoding reads of a model trained on it: registry.decoders and registry.exporters
  # are keyed by it ("text": token ids; "ctc_frames": per-frame CTC outputs of audio).
  emits: ClassVar[str] = "text"
  eval_metrics: ClassVar[tuple[str, ...]] = ("accuracy", "accuracy_per_sequence",
                                             "neg_log_perplexity")
  # Metrics of decoded outputs, computed during train_and_evaluate on a sample of the eval
  # split (e.g. "bleu"); each is a name in decoding/decoder.py's DECODED_METRICS.
  decode_metrics: ClassVar[tuple[str, ...]] = ()
  # The hparams groups (options.hparams_group) preprocess_example reads (validated with
  # the model's, before anything runs).
  HPARAMS: ClassVar[tuple[type, ...]] = ()
  # How hparams validation names HPARAMS to a user whose set lacks them.
  HPARAMS_KIND: ClassVar[str] = "hparams"

  @classmethod
  def check_registration(cls) -> None:
    """registry.register_problem runs this: a problem implements its abstract hooks, and
    no method name is a misspelled hook."""
    missing = sorted(cls.__abstractmethods__)  # Problem is an abc.ABC
    if missing:
      raise UserError(f"problem {cls.__name__} does not implement {', '.join(missing)}")
    registry.check_hook_names(cls, Problem, f"problem {cls.__name__}")
    options.check_hparams_groups(cls.HPARAMS, f"problem {cls.__name__}")

  @property
  def name(self) -> str:
    return type(self).registered_name or registry.default_name(type(self))

  @property
  def decoder_class(self) -> type:
    """The Decoder registered for what this problem emits (t2t-decoder, evaluation)."""
    return registry.decoders.get(self.emits)

  def check_hparams(self, hparams: HParams) -> None:
    """Raises UserError when hparams lack, or hold bad values of, the problem's HPARAMS."""
    hparams_lib.validate(hparams, options.hparam_specs(*self.HPARAMS),
                         f"problem '{self.name}'", self.HPARAMS_KIND)

  def feature_spec(self, hparams: HParams) -> dict[str, tf.TensorSpec]:
    """What preprocess_example yields for one example (token ids by default)."""
    out = {"targets": tf.TensorSpec([None], tf.int32)}
    if self.has_inputs:
      out["inputs"] = tf.TensorSpec([None], tf.int32)
    return out

  # -- settings ---------------------------------------------------------------------------
  # Typed settings of a problem that is usable with no code (file paths, vocabulary
  # choices), given once to t2t-datagen with --problem_settings and saved in data_dir, so
  # the trainer and decoder read them from there. Declared as option groups
  # (ProblemSettings subclasses: type, default, bounds, help); a class lists its own in
  # SETTINGS, after its bases' and mixins' (settings_class composes them).
  SETTINGS: ClassVar[tuple[type, ...]] = ()

  @classmethod
  def settings_class(cls):
    groups = dict.fromkeys(g for c in reversed(cls.__mro__) for g in vars(c).get("SETTINGS", ()))
    return options.compose(f"{cls.__name__}Settings", *groups, base=ProblemSettings)

  def settings_preset(self) -> dict:
    """{name: value}: this problem's values over the declared defaults."""
    return {}

  def default_settings(self):
    return self.settings_class()(**self.settings_preset())

  @property
  def settings(self):
    if "_settings" not in self.__dict__:
      self._settings = self.default_settings()
    return self._settings

  def _settings_file(self, data_dir):
    return os.path.join(data_dir, f"{self.name}.settings.json")

  def configure(self, overrides="", data_dir=None):
    """Settings = defaults < those saved in data_dir < overrides. Data already generated
    with other values is never silently mixed with new ones: that is an error."""
    defaults = self.default_settings().values()
    saved = {}
    if data_dir and tf.io.gfile.exists(self._settings_file(data_dir)):
      with tf.io.gfile.GFile(self._settings_file(data_dir)) as f:
        saved = json.load(f)
    settings = self.settings_class().from_string(
        overrides, f"--problem_settings of problem {self.name}",
        base={**defaults, **{k: v for k, v in saved.items() if k in defaults}})
    settings = self.check_settings(settings)
    changed = [f"{k}={saved[k]!r} (now {v!r})" for k, v in settings.values().items()
               if k in saved and saved[k] != v and k not in self.RELOCATABLE_SETTINGS]
    if changed:
      raise UserError(f"the data in {data_dir} was generated with {', '.join(changed)}; use "
                      "another --data_dir, or drop those --problem_settings")
    self._settings = settings
    return settings

  # Settings that may change between runs without changing the data (e.g. where a
  # download cache lives).
  RELOCATABLE_SETTINGS = ()

  def check_settings(self, settings):
    """The settings to use: raises UserError for values this problem cannot use together
    (each value alone is checked against its declaration); may complete them (e.g. make
    paths absolute, with settings.replace)."""
    return settings

  def save_settings(self, data_dir):
    values = self.settings.values()
    if values:
      with tf.io.gfile.GFile(self._settings_file(data_dir), "w") as f:
        json.dump(values, f, indent=2, sort_keys=True)

  # -- vocabulary -------------------------------------------------------------------------
  @abc.abstractmethod
  def feature_encoders(self, data_dir):
    """{"inputs": TextEncoder, "targets": TextEncoder}, read from data_dir."""
    raise NotImplementedError

  def write_vocab(self, data_dir):
    """Builds and saves the vocabulary files in data_dir (once; existing ones are kept).
    Nothing to build by default (e.g. a fixed byte vocabulary)."""
    return None

  def update_hparams(self, hparams, data_dir):
    """Copies what the model must know about the data (vocabulary sizes) into hparams,
    the copy experiment.final_hparams is resolving."""
    encoders = self.feature_encoders(data_dir)
    if "has_inputs" in hparams:
      hparams.has_inputs = self.has_inputs
    hparams.target_vocab_size = encoders["targets"].vocab_size
    hparams.input_vocab_size = (encoders["inputs"].vocab_size if self.has_inputs
                                else hparams.target_vocab_size)
    return hparams

  # -- generation -------------------------------------------------------------------------
  @abc.abstractmethod
  def generate_encoded_samples(self, data_dir, tmp_dir, split):
    """Yields {"inputs": [ids...], "targets": [ids...]} for one split (ids end with EOS)."""
    raise NotImplementedError

  def check_split(self, split, flag="--eval_split"):
    splits = [name for name, _ in self.dataset_splits]
    if split not in splits:
      raise UserError(f"{flag}={split}: problem '{self.name}' has splits {', '.join(splits)}")

  def split_filenames(self, data_dir, split):
    num_shards = dict(self.dataset_splits)[split]
    return generator_utils.shard_filenames(data_dir, self.name, split, num_shards)

  def generate_data(self, data_dir, tmp_dir=None, log=print):
    """Writes the vocabulary and every split's shards and manifest. Complete splits (their
    manifest matches their files) are kept; any other is rewritten whole, so a rerun
    repairs exactly what an interrupted or failed run left incomplete. One writer per
    data_dir at a time."""
    ensure_dir(data_dir)
    with writer_lock.WriterLock(data_dir, "t2t-datagen"):
      self.write_vocab(data_dir)
      for split, _ in self.dataset_splits:
        self._generate_split(data_dir, tmp_dir, split, log)
      # Saved once everything is written: a datagen that failed on a bad file can be rerun
      # with corrected settings.
      self.save_settings(data_dir)

  def _generate_split(self, data_dir, tmp_dir, split, log):
    write_split(data_dir, self.name, split, self.split_filenames(data_dir, split),
                lambda: self.generate_encoded_samples(data_dir, tmp_dir, split), log)

  # -- reading ----------------------------------------------------------------------------
  def data_files(self, data_dir, split):
    """The split's shards, checked against its manifest first (their presence and sizes:
    no data is read). Raises UserError naming what is missing, truncated or extra."""
    files = manifest.split_files(data_dir, self.name, split)
    if not files:
      raise UserError(f"no {split} data for problem '{self.name}' in {data_dir}; run "
                      f"t2t-datagen --problem={self.name} --data_dir={data_dir} "
                      "(or pass --generate_data to t2t-trainer)")
    return files

  def weighted_data_files(self, data_dir, split) -> list[tuple[float, list[str]]]:
    """[(rate, files)]: groups of a split's files; training samples examples from the
    groups by rate (a mixture's members), evaluation reads them one after another."""
    return [(1.0, self.data_files(data_dir, split))]

  def evaluation_parts(self) -> list[tuple[str, "Problem"]]:
    """[(label, problem)]: parts of this problem evaluated on their own, their metrics
    reported as label/metric beside the pooled ones ([]: none; a mixture's members)."""
    return []

  def check_data(self, data_dir, splits, verify=False, log=print):
    """Before a binary reads any data: each split's cheap check (data_files) and, with
    verify (--verify_data), every shard's SHA-256 against the manifest."""
    for split in splits:
      self.data_files(data_dir, split)
    if verify:
      for split in splits:
        for name in self.shard_sets():
          manifest.verify(data_dir, name, split, log)

  def shard_sets(self) -> list[str]:
    """The names this problem's shards and manifests are written under (<name>-<split>-*):
    its own name (a mixture: one per member)."""
    return [self.name]

  def example_spec(self):
    spec = {"targets": tf.io.VarLenFeature(tf.int64)}
    if self.has_inputs:
      spec["inputs"] = tf.io.VarLenFeature(tf.int64)
    return spec

  def decode_example(self, serialized):
    parsed = tf.io.parse_single_example(serialized, self.example_spec())
    return {k: tf.cast(tf.sparse.to_dense(v), tf.int32) for k, v in parsed.items()}

  # -- hooks for problems whose examples are not just token ids (e.g. speech) --------------
  def preprocess_example(self, example, training, hparams):
    """Decoded example -> model features, inside the tf.data map (e.g. audio -> log-mel
    filterbanks). Batching pads every feature to the longest in the batch; bucketing
    measures an example by the first dimension of its inputs or targets, the longer."""
    return example

  def uses_example_seeds(self, hparams) -> bool:
    """Whether preprocess_example, in training, reads example[EXAMPLE_SEED]: an int64 the
    input pipeline draws for each example from the run's seed (a seeded stream whose
    position is checkpointed with the input, so a resumed run draws the same ones), for
    random augmentation that is deterministic and resumable."""
    return False

  def sort_length(self, example):
    """The length SortaGrad sorts decoded examples by (in-graph): the longer of inputs and
    targets, in tokens. Problems whose preprocessing changes lengths (audio -> frames)
    return any measure that grows with the preprocessed length."""
    length = tf.shape(example["targets"])[0]
    if "inputs" in example:
      length = tf.maximum(length, tf.shape(example["inputs"])[0])
    return length

  def detokenizer(self, data_dir):
    """An in-graph ids [b, t] -> strings [b] function for text metrics (WER/CER), or
    None when the problem reports none."""
    return None


registry.declare_contract(Problem, lambda cls: cls.check_registration())


def write_split(data_dir, name, split, paths, samples, log=print):
  """Writes the shards `paths` of one split from samples() and then the manifest of `name`
  (the prefix of the shards' names). A complete split (its manifest matches its files) is
  kept; any other is rewritten whole, so a rerun repairs exactly what an interrupted or
  failed run left incomplete. Shared by Problem and mixtures (one shard set per member)."""
  if manifest.is_complete(data_dir, name, split):
    log(f"{name}: {split} data already in {data_dir}, keeping it")
    return
  legacy = manifest.legacy_shards(data_dir, name, split)
  if legacy:  # written before manifests: kept if every record reads
    try:
      shards = [manifest.describe(f, manifest.count_records(f)) for f in legacy]
    except tf.errors.DataLossError:
      log(f"{name}: a {split} shard in {data_dir} is damaged; rewriting the split")
    else:
      with generator_utils.explained_write_errors(
          manifest.manifest_path(data_dir, name, split)):
        manifest.write(data_dir, name, split, shards)
      log(f"{name}: {split} data already in {data_dir} (read whole: "
          f"{sum(s.records for s in shards)} records), recorded its manifest")
      return
  elif manifest.has_files(data_dir, name, split):
    log(f"{name}: the {split} data in {data_dir} is incomplete (an interrupted or "
        "failed datagen); rewriting the split")
  manifest.remove_split(data_dir, name, split)
  shards = generator_utils.write_shards(samples(), paths)
  with generator_utils.explained_write_errors(
      manifest.manifest_path(data_dir, name, split)):
    manifest.write(data_dir, name, split, shards)
  log(f"{name}: wrote {sum(s.records for s in shards)} {split} examples to "
      f"{len(paths)} shard(s) in {data_dir}")
