import fcntl
import json
import os
import time

import pytest

from tests import speech_data
from tests.bin.helpers import FAST, run, write_lines
from tests.problems.synthetic_language import corpus

PROBLEM = "algorithmic_reverse_decimal40"


def built_once(tmp_path_factory, name, build):
  """build(directory) -> a JSON-able result, run once per test session: under pytest-xdist
  the workers share one build (xdist's documented pattern for session fixtures): the first
  builds into the session's common temp directory, the others wait for it and reuse it."""
  root = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    root = root.parent
  done = root / f"{name}.json"
  with open(root / f"{name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not done.exists():
      directory = root / name
      directory.mkdir(exist_ok=True)
      done.write_text(json.dumps(build(directory)))
  return json.loads(done.read_text())


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  """The reverse problem's data, generated once by t2t-datagen for all binary tests."""
  def build(directory):
    proc = run("t2t-datagen", f"--problem={PROBLEM}", f"--data_dir={directory}")
    assert "wrote 100000 train examples" in proc.stdout
    return str(directory)
  return built_once(tmp_path_factory, "reverse_data", build)


@pytest.fixture(scope="session")
def translation(tmp_path_factory):
  """transformer_tiny trained by the binaries on 3000 pairs of the synthetic language from
  two aligned files, with 300 held-out pairs (tests that use it write only into their own
  directories, so they may share it: test_text_binaries and test_serving)."""
  return built_once(tmp_path_factory, "translation", _train_translation)


def _train_translation(tmp_path):
  pairs = corpus(3300, seed=0)
  train, test = pairs[:3000], pairs[3000:]
  src = write_lines(tmp_path / "train.src", [s for s, _ in train])
  tgt = write_lines(tmp_path / "train.tgt", [t for _, t in train])
  data, out = str(tmp_path / "data"), str(tmp_path / "run")
  run("t2t-datagen", "--problem=translate_from_files", f"--data_dir={data}",
      f"--problem_settings=train_source={src},train_target={tgt},approx_vocab_size=200")
  proc = run("t2t-trainer", "--problem=translate_from_files", f"--data_dir={data}",
             "--model=transformer", "--hparams_set=transformer_tiny", f"--output_dir={out}",
             "--train_steps=1000", "--local_eval_frequency=500", "--eval_decode_samples=20",
             f"--hparams={FAST}", timeout=900)
  return {"out": out, "data_dir": data, "log": proc.stdout, "pairs": test,
          "test_src": write_lines(tmp_path / "test.src", [s for s, _ in test]),
          "test_ref": write_lines(tmp_path / "test.ref", [t for _, t in test])}


SPEECH_STEPS = 250


@pytest.fixture(scope="session")
def speech_run(tmp_path_factory):
  """deep_speech2_tiny trained by the binaries for SPEECH_STEPS steps on 300 synthesized
  utterances (40 held out) of sentences of a 40-word vocabulary, with the character data
  and word 3-gram LM t2t-datagen wrote; shared by test_speech, test_speech_deployment,
  test_speech_sentencepiece (its corpus) and test_serve, which only read it or write
  files of their own names."""
  return built_once(tmp_path_factory, "speech_run", _train_speech)


def _train_speech(directory):
  start = time.time()
  root = str(directory)
  corpus = speech_data.write_corpus(os.path.join(root, "corpus"), num_train=300, num_dev=40,
                                    words=speech_data.word_list(40))
  data_dir, output_dir = os.path.join(root, "data"), os.path.join(root, "run")
  settings = f"--problem_settings=train_manifest={corpus['train']},dev_manifest={corpus['dev']}"
  proc = run("t2t-datagen", "--problem=speech_manifest", f"--data_dir={data_dir}", settings)
  assert "wrote 300 train examples" in proc.stdout
  assert "wrote a 3-gram language model" in proc.stdout
  proc = run("t2t-trainer", "--problem=speech_manifest", "--model=deep_speech2",
             "--hparams_set=deep_speech2_tiny", f"--data_dir={data_dir}",
             f"--output_dir={output_dir}", f"--train_steps={SPEECH_STEPS}",
             f"--local_eval_frequency={SPEECH_STEPS}", "--log_step_count_steps=50",
             "--eval_steps=0", timeout=900)
  return {"root": root, "corpus": corpus, "data_dir": data_dir, "output_dir": output_dir,
          "lm": os.path.join(data_dir, "speech_manifest.lm.arpa"), "start": start,
          "log": proc.stdout}


@pytest.fixture(scope="session")
def translation_outputs(translation, tmp_path_factory):
  """The shared translation run's t2t-decoder translations of its first 100 held-out
  sources (greedy and beam 4), its greedy SavedModel ("saved_model") and its float32
  CTranslate2 export ("ctranslate2"; the docs' test-setup names it),
  made once for the tests that hold servers and exports to the decoder (test_serve,
  test_serving); they read them and write only files of their own."""
  return built_once(tmp_path_factory, "translation_outputs",
                    lambda directory: _translation_outputs(translation, directory))


def _translation_outputs(translation, directory):
  sources = [s for s, _ in translation["pairs"][:100]]
  src = write_lines(directory / "test.src", sources)
  decoded = {}
  for name, decode_hparams in (("greedy", "beam_size=1"), ("beam", "beam_size=4,alpha=0.6")):
    path = str(directory / f"{name}.hyp")
    run("t2t-decoder", f"--output_dir={translation['out']}", f"--decode_from_file={src}",
        f"--decode_to_file={path}", f"--decode_hparams={decode_hparams}")
    decoded[name] = open(path).read().splitlines()
  exports = {"saved_model": str(directory / "savedmodel"), "ctranslate2": str(directory / "ct2")}
  run("t2t-exporter", f"--output_dir={translation['out']}",
      f"--export_dir={exports['saved_model']}", "--decode_hparams=beam_size=1")
  proc = run("t2t-exporter", f"--output_dir={translation['out']}",
             "--export_format=ctranslate2", f"--export_dir={exports['ctranslate2']}")
  assert "wrote a CTranslate2 Translator" in proc.stdout
  return {"sources": sources, "references": [t for _, t in translation["pairs"][:100]],
          "decoded": decoded, **exports}


@pytest.fixture(scope="session")
def speech_outputs(speech_run, tmp_path_factory):
  """The shared speech run's greedy transcripts of its first 8 dev WAVs (t2t-decoder) and
  its greedy SavedModel, made once for test_speech and test_serve."""
  return built_once(tmp_path_factory, "speech_outputs",
                    lambda directory: _speech_outputs(speech_run, directory))


def _speech_outputs(speech_run, directory):
  corpus_dir = os.path.dirname(speech_run["corpus"]["dev"])
  rows = [line.rstrip("\n").split("\t") for line in open(speech_run["corpus"]["dev"])][:8]
  wavs = [os.path.join(corpus_dir, wav) for wav, _ in rows]
  listing = write_lines(directory / "wavs.txt", wavs)
  out, export_dir = str(directory / "decoded.txt"), str(directory / "export")
  run("t2t-decoder", f"--output_dir={speech_run['output_dir']}",
      f"--decode_from_file={listing}", f"--decode_to_file={out}",
      "--decode_hparams=beam_size=1")
  run("t2t-exporter", f"--output_dir={speech_run['output_dir']}", f"--export_dir={export_dir}",
      "--decode_hparams=beam_size=1")
  return {"wavs": wavs, "decoded": open(out).read().splitlines(), "export_dir": export_dir}
