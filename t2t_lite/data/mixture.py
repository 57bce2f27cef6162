"""Problem mixtures (Tensor2Tensor's MultiProblem, seqio's Mixture): one model trained on
several problems at once, sampled by rate.

A mixture is a Problem, so the trainer, decoder, exporter and every flag work on it as on
any problem. Declare one in your code (e.g. a --t2t_usr_dir):

    @registry.register_problem
    class TranslateEnXx(mixture.MixtureProblem):
      members = ("translate_en_de_ui", "translate_en_fr_ui")   # registered problems
      rates = (0.7, 0.3)                                       # default: equal
      task_tokens = ("<2de>", "<2fr>")                         # or True: "<member>"

or name one on the command line: `--problem=a+b --mixture_rates=0.7,0.3` (task tokens
"<a>", "<b>"; --problem_settings=task_tokens=false for none).

Data. t2t-datagen --problem=MIXTURE writes each member's examples into files of its own,
`MIXTURE.MEMBER-split-00000-of-00010`, in one vocabulary:
- members that yield text (Text2TextProblems) get a vocabulary the mixture builds from all
  of their training texts (sentencepiece, bytes or characters: the mixture's
  --problem_settings, as a text problem's);
- other members (e.g. the algorithmic ones) must already share their vocabulary; the
  mixture checks that every id decodes alike.
With task tokens, each member's token gets an id after the vocabulary's and starts every
input of its examples (the targets, for problems without inputs): Johnson et al.'s
target-language tags for multilingual translation. Lines given to t2t-decoder start with
the token ("<2de> a green garden").

Sampling. Training picks the member of each next example by rate, with a seeded random
stream that is part of the training input's checkpoint: deterministic with --random_seed,
and a resumed run continues it (input_pipeline.sample_by_rate). Evaluation reports every
metric per member (`member/bleu`) beside the pooled ones: teacher-forced metrics pooled over
all members' examples, decoded metrics (BLEU) as the mean of the members'.
"""
import copy
import functools
from typing import ClassVar

from t2t_lite import options, registry, writer_lock
from t2t_lite.data import generator_utils, manifest, problem
from t2t_lite.data.problem import Problem, ProblemSettings
from t2t_lite.data.text_encoder import EOS_ID, TaskTokenEncoder, ensure_dir
from t2t_lite.data.text_problems import Text2TextProblem, VocabSettings
from t2t_lite.errors import UserError
from t2t_lite.options import setting

SEPARATOR = registry.MIXTURE_SEPARATOR


class _JointVocabulary(Text2TextProblem):
  """The vocabulary of a mixture of text problems, built from all members' training texts
  (Text2TextProblem's machinery, under the mixture's name and settings)."""

  def __init__(self, mixture):
    self.mixture = mixture
    self.has_inputs = mixture.has_inputs

  @property
  def name(self):
    return self.mixture.name

  @property
  def settings(self):
    return self.mixture.settings

  def _vocab_of(self, feature):
    return "shared"  # one vocabulary for every member and feature

  def generate_samples(self, data_dir, tmp_dir, split):
    """The members' samples taken in turn, so vocab_samples draws from every member."""
    streams = [iter(m.generate_samples(data_dir, tmp_dir, split))
               for m in self.mixture.member_problems]
    while streams:
      for stream in list(streams):
        try:
          yield next(stream)
        except StopIteration:
          streams.remove(stream)


@options.group("MixtureSettings")
class MixtureSettings(ProblemSettings):
  task_tokens: bool = setting(False, "each example's input starts with its member's task "
                              "token (the mixture's default: whether it declares them)")


class MixtureProblem(Problem):
  """Several registered problems as one; see the module docstring."""

  members: ClassVar[tuple[str, ...]] = ()
  rates: ClassVar[tuple[float, ...]] = ()  # relative; default: equal
  # True: "<member name>" per member; a tuple: the tokens, in member order; False: none.
  task_tokens: ClassVar[bool | tuple[str, ...]] = False

  def __init__(self, members=None, name=None, task_tokens=None):
    """members/name/task_tokens: for a mixture named on the command line (`a+b`)."""
    if members is not None:
      self.members = tuple(members)
    if task_tokens is not None:
      self.task_tokens = task_tokens
    self._name = name
    if len(self.members) < 2:
      raise UserError(f"mixture {self.name} needs at least two member problems")
    self.member_problems = [registry.problem(n) for n in self.members]
    self.indices = tuple(range(len(self.members)))  # the members this view covers
    self.rate_values = tuple(float(r) for r in (type(self).rates or (1.0,) * len(self.members)))
    self._check_members()

  # -- what it is made of -----------------------------------------------------------------
  @property
  def name(self):
    return self._name or super().name

  def _check_members(self):
    first = self.member_problems[0]
    for m in self.member_problems:
      if isinstance(m, MixtureProblem):
        raise UserError(f"mixture {self.name}: member {m.name} is a mixture itself; list "
                        "its members instead")
      if (type(m).decode_example is not Problem.decode_example or
          type(m).preprocess_example is not Problem.preprocess_example):
        raise UserError(f"mixture {self.name}: member {m.name} is not a token problem; "
                        "mixtures combine problems of token ids (text, algorithmic)")
      if m.has_inputs != first.has_inputs:
        raise UserError(f"mixture {self.name}: {m.name} and {first.name} differ in having "
                        "inputs")
    if len(self.rate_values) != len(self.members) or min(self.rate_values) <= 0:
      raise UserError(f"mixture {self.name}: rates {self.rate_values} must be one positive "
                      f"number per member ({len(self.members)})")
    if isinstance(self.task_tokens, tuple) and len(self.task_tokens) != len(self.members):
      raise UserError(f"mixture {self.name}: task_tokens {self.task_tokens} must be one per "
                      "member")

  @property
  def has_inputs(self):
    return self.member_problems[0].has_inputs

  @property
  def text_members(self):
    return all(isinstance(m, Text2TextProblem) for m in self.member_problems)

  @property
  def eval_metrics(self):
    return tuple(n for n in self.member_problems[0].eval_metrics
                 if all(n in m.eval_metrics for m in self.member_problems))

  @property
  def decode_metrics(self):
    return tuple(n for n in self.member_problems[0].decode_metrics
                 if all(n in m.decode_metrics for m in self.member_problems))

  @property
  def dataset_splits(self):
    names = [s for s, _ in self.member_problems[0].dataset_splits
             if all(s in dict(m.dataset_splits) for m in self.member_problems)]
    return tuple((s, 1) for s in names)

  def set_rates(self, rates):
    """Sampling rates, one per member (relative): --mixture_rates."""
    rates = tuple(float(r) for r in rates)
    if len(rates) != len(self.members) or min(rates, default=0) <= 0:
      raise UserError(f"--mixture_rates: {len(self.members)} positive numbers for "
                      f"{', '.join(self.members)}, got {','.join(map(str, rates))}")
    self.rate_values = rates

  # -- settings ---------------------------------------------------------------------------
  def settings_class(self):
    # A vocabulary of text members' (one, always: no shared_vocab).
    groups = (MixtureSettings,) + ((VocabSettings,) if self.text_members else ())
    return options.compose("MixtureSettings", *groups, exclude=("shared_vocab",),
                           base=ProblemSettings)

  def settings_preset(self):
    return {"task_tokens": bool(self.task_tokens)}

  def check_settings(self, settings):
    if self.text_members:
      return Text2TextProblem.check_settings(self, settings)
    return settings

  def configure(self, overrides="", data_dir=None):
    settings = super().configure(overrides, data_dir)
    for m in self.member_problems:  # a member's own settings are read from data_dir
      m.configure("", data_dir)
    return settings

  def tokens(self):
    """The task tokens, in member order (() without them)."""
    if not self.settings.task_tokens:
      return ()
    if isinstance(self.task_tokens, tuple):
      return self.task_tokens
    return tuple(f"<{n}>" for n in self.members)

  # -- vocabulary -------------------------------------------------------------------------
  def write_vocab(self, data_dir):
    if self.text_members:
      _JointVocabulary(self).write_vocab(data_dir)
    else:
      for m in self.member_problems:
        m.write_vocab(data_dir)

  def _base_encoders(self, data_dir):
    if self.text_members:
      encoders = _JointVocabulary(self).feature_encoders(data_dir)
      encoders.setdefault("inputs", encoders["targets"])
      return encoders
    encoders = self.member_problems[0].feature_encoders(data_dir)
    for m in self.member_problems[1:]:
      for feature, encoder in m.feature_encoders(data_dir).items():
        if _fingerprint(encoder) != _fingerprint(encoders[feature]):
          raise UserError(f"mixture {self.name}: the {feature} vocabularies of "
                          f"{self.member_problems[0].name} and {m.name} differ; members "
                          "that do not yield text must share one vocabulary")
    return encoders

  def feature_encoders(self, data_dir):
    encoders = self._base_encoders(data_dir)
    tokens = self.tokens()
    if not tokens:
      return encoders
    tagged = {f: TaskTokenEncoder(e, tokens) for f, e in encoders.items()}
    if encoders["inputs"] is encoders["targets"]:
      tagged["inputs"] = tagged["targets"]
    return tagged

  # -- data -------------------------------------------------------------------------------
  def member_file_name(self, index):
    return f"{self.name}.{self.members[index]}"

  def member_split_filenames(self, data_dir, index, split):
    shards = dict(self.member_problems[index].dataset_splits)[split]
    return generator_utils.shard_filenames(data_dir, self.member_file_name(index), split,
                                           shards)

  def generate_encoded_samples(self, data_dir, tmp_dir, split):
    for index in self.indices:
      yield from self._member_samples(data_dir, tmp_dir, split, index)

  def _member_samples(self, data_dir, tmp_dir, split, index):
    member = self.member_problems[index]
    tokens = self.tokens()
    tagged = "inputs" if self.has_inputs else "targets"
    base = self._base_encoders(data_dir)
    if self.text_members:
      features = ("inputs", "targets") if self.has_inputs else ("targets",)
      samples = ({f: base[f].encode(s[f]) + [EOS_ID] for f in features}
                 for s in member.generate_samples(data_dir, tmp_dir, split))
    else:
      samples = member.generate_encoded_samples(data_dir, tmp_dir, split)
    token_id = base[tagged].vocab_size + index  # TaskTokenEncoder's id of this member
    for sample in samples:
      if tokens:
        sample = dict(sample, **{tagged: [token_id] + list(sample[tagged])})
      yield sample

  def generate_data(self, data_dir, tmp_dir=None, log=print):
    ensure_dir(data_dir)
    with writer_lock.WriterLock(data_dir, "t2t-datagen"):
      self.write_vocab(data_dir)
      self.feature_encoders(data_dir)  # members that must share a vocabulary do
      for index in self.indices:
        for split, _ in self.dataset_splits:
          problem.write_split(
              data_dir, self.member_file_name(index), split,
              self.member_split_filenames(data_dir, index, split),
              functools.partial(self._member_samples, data_dir, tmp_dir, split, index), log)
      self.save_settings(data_dir)

  def _member_files(self, data_dir, split, index):
    files = manifest.split_files(data_dir, self.member_file_name(index), split)
    if not files:
      raise UserError(f"no {split} data of member {self.members[index]} of mixture "
                      f"'{self.name}' in {data_dir}; run t2t-datagen --problem={self.name} "
                      f"--data_dir={data_dir} (or pass --generate_data to t2t-trainer)")
    return files

  def shard_sets(self):
    return [self.member_file_name(i) for i in self.indices]

  def data_files(self, data_dir, split):
    return [f for i in self.indices for f in self._member_files(data_dir, split, i)]

  def weighted_data_files(self, data_dir, split):
    return [(self.rate_values[i], self._member_files(data_dir, split, i))
            for i in self.indices]

  # -- evaluation -------------------------------------------------------------------------
  def member_view(self, index):
    """This mixture restricted to one member: the same vocabulary and task token, that
    member's data (evaluated and decoded on its own)."""
    view = copy.copy(self)
    view.indices = (index,)
    return view

  def evaluation_parts(self):
    if len(self.indices) == 1:
      return []
    return [(self.members[i], self.member_view(i)) for i in self.indices]


def _fingerprint(encoder):
  return tuple(encoder.decode([i]) for i in range(encoder.vocab_size))


def parse_name(name):
  """The member names of a mixture named on the command line ('a+b'), else None."""
  if SEPARATOR not in name:
    return None
  members = [m.strip() for m in name.split(SEPARATOR)]
  if any(not m for m in members):
    raise UserError(f"--problem={name}: a mixture is named member+member+...")
  return members


def named_mixture(name):
  """The mixture named `a+b` on the command line (task tokens '<a>', '<b>')."""
  return MixtureProblem(members=parse_name(name), name=name, task_tokens=True)


registry.set_mixture_builder(named_mixture)  # registry.problem("a+b")


def parse_rates(text):
  """'0.7,0.3' -> (0.7, 0.3)."""
  try:
    return tuple(float(x) for x in text.split(",") if x.strip())
  except ValueError:
    raise UserError(f"--mixture_rates={text}: expected comma-separated numbers, e.g. "
                    "0.7,0.3") from None

