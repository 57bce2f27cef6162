# What a docs page may start from (<!-- test-setup: PATH=FIXTURE[:KEY] -->): the reader's
# own files and runs, stood in for by the session-wide builds the binaries' tests use
# (built once per session, under pytest-xdist too), so the docs' tests add almost no
# training of their own (translation_best resumes the shared run for 10 steps, for the
# pages about best checkpoints), and by small corpora written here in Python.
import os
import shutil

import pytest

from tests.bin import conftest as shared
from tests.bin.conftest import data_dir, speech_run, translation, translation_outputs  # noqa: F401
from tests.bin.helpers import FAST, run, write_lines
from tests.problems.synthetic_language import corpus
from tests.usr_dir_example import write_usr_dir

# The reader's test set: held-out pairs of the shared translation run's synthetic language
# (tests/bin/conftest.py trains on corpus(3300, seed=0)[:3000]), few enough to decode in
# seconds.
TEST_PAIRS = 20


@pytest.fixture(scope="session")
def text_corpus(tmp_path_factory):
  """A parallel corpus of the reader's, in the synthetic language: `corpus.tsv`, the folder
  `corpus` (train.en, train.xx, dev.en, dev.xx), the folder `text` (train.txt: the English
  side, for a language model), `test.en`/`test.xx` and `test.ref`
  (the shared translation run's held-out pairs) and `test.hyp` (a system's output: the
  references with every third sentence's last word dropped)."""
  tmp = tmp_path_factory.mktemp("text_corpus")
  pairs = corpus(3300, seed=0)
  train, dev, test = pairs[:400], pairs[400:440], pairs[3000:3000 + TEST_PAIRS]
  folder = tmp / "corpus"
  folder.mkdir()
  for split, split_pairs in (("train", train), ("dev", dev)):
    write_lines(folder / f"{split}.en", [s for s, _ in split_pairs])
    write_lines(folder / f"{split}.xx", [t for _, t in split_pairs])
  hyp = [t.rsplit(" ", 1)[0] if i % 3 == 0 else t for i, (_, t) in enumerate(test)]
  text = tmp / "text"  # monolingual text for a language model: the English side
  text.mkdir()
  write_lines(text / "train.txt", [s for s, _ in train])
  return {"corpus": str(folder), "text": str(text),
          "corpus.tsv": write_lines(tmp / "corpus.tsv", [f"{s}\t{t}" for s, t in train]),
          "test.en": write_lines(tmp / "test.en", [s for s, _ in test]),
          "test.xx": write_lines(tmp / "test.xx", [t for _, t in test]),
          "test.ref": write_lines(tmp / "test.ref", [t for _, t in test]),
          "test.hyp": write_lines(tmp / "test.hyp", hyp)}


@pytest.fixture(scope="session")
def translation_best(translation, tmp_path_factory):  # noqa: F811
  """The shared translation run resumed for 10 steps with --best_metric=bleu, so that it
  holds best/ (--checkpoint=best), as a run trained with the research workflow's flags
  does; built once per session."""
  def build(directory):
    out, data = str(directory / "run"), translation["data_dir"]
    shutil.copytree(translation["out"], out)
    run("t2t-trainer", "--problem=translate_from_files", f"--data_dir={data}",
        "--model=transformer", "--hparams_set=transformer_tiny", f"--output_dir={out}",
        f"--hparams={FAST}", "--train_steps=1010", "--local_eval_frequency=10", "--eval_steps=5",
        "--eval_decode_samples=20", "--best_metric=bleu", "--keep_best_checkpoints=1")
    return {"out": out}
  return shared.built_once(tmp_path_factory, "translation_best", build)


@pytest.fixture(scope="session")
def recordings(speech_run, tmp_path_factory):  # noqa: F811
  """The reader's recordings and speech run: `clips` (0001.wav, ... : the shared speech
  run's first held-out utterances), `out` (that run) and `data` (its data folder, with the
  language model datagen wrote)."""
  tmp = tmp_path_factory.mktemp("recordings")
  clips = tmp / "clips"
  clips.mkdir()
  manifest = speech_run["corpus"]["dev"]
  with open(manifest) as f:
    paths = [line.split("\t")[0] for line in f][:4]
  for i, path in enumerate(paths, 1):
    shutil.copy(os.path.join(os.path.dirname(manifest), path), clips / f"{i:04d}.wav")
  return {"clips": str(clips), "out": speech_run["output_dir"],
          "data": speech_run["data_dir"]}


@pytest.fixture(scope="session")
def user_dir(tmp_path_factory):
  """The reader's --t2t_usr_dir (my_t2t): tests/usr_dir_example.py's problem and model."""
  return str(write_usr_dir(tmp_path_factory.mktemp("user_dir") / "my_t2t"))


@pytest.fixture(scope="session")
def repository():
  """This checkout's folders that pages run scripts from (`python bench/chaos.py ...` is
  run from the repository)."""
  return {"bench": os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench")}
