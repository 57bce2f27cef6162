"""bench/make_speech_corpus.py: natural sentences from text this machine ships, a split by
sentence, and a rebuild that gives the same bytes (espeak-ng and sox, from apt)."""
import filecmp
import importlib.util
import os
import shutil

import pytest

from t2t_lite import registry
from t2t_lite.data import audio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _corpus_module():
  spec = importlib.util.spec_from_file_location(
      "make_speech_corpus", os.path.join(ROOT, "bench", "make_speech_corpus.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_keeps_natural_sentences_only():
  corpus = _corpus_module()
  text = ("Return the number of items in the container. See also len(). x = foo_bar(1). "
          "The value is an int. Use getValue to read it back. Too short here. "
          "A mapping object maps hashable values to arbitrary objects, and it's mutable.")
  # Code, markup, camelCase and sentences under 4 words are left out.
  assert list(corpus._sentences(text)) == [
      "Return the number of items in the container.",
      "A mapping object maps hashable values to arbitrary objects, and it's mutable."]
  assert corpus.normalize("A built-in type, isn't it.") == "a built in type isn't it"


def test_split_by_sentence_is_stable_and_roughly_80_10_10():
  corpus = _corpus_module()
  sentences = [f"sentence number {i} of the set" for i in range(2000)]
  splits = [corpus.split_of(s) for s in sentences]
  assert splits == [corpus.split_of(s) for s in sentences]
  counts = {name: splits.count(name) for name in ("train", "dev", "test")}
  assert 1500 < counts["train"] < 1700 and 130 < counts["dev"] < 270
  assert 130 < counts["test"] < 270


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                    reason="needs espeak-ng and sox (apt-get install espeak-ng sox)")
def test_rebuild_gives_the_same_files_and_manifests_speech_manifest_reads(tmp_path):
  corpus = _corpus_module()
  first, second = str(tmp_path / "a"), str(tmp_path / "b")
  corpus.main([f"--out={first}", "--num_sentences=6"])
  corpus.main([f"--out={second}", "--num_sentences=6"])
  names = sorted(os.listdir(os.path.join(first, "wav")))
  assert len(names) == 6
  match, mismatch, errors = filecmp.cmpfiles(os.path.join(first, "wav"),
                                             os.path.join(second, "wav"), names, shallow=False)
  assert (mismatch, errors) == ([], [])
  utterances = 0
  for split in ("train", "dev", "test"):
    manifest = os.path.join(first, f"{split}.tsv")
    assert filecmp.cmp(manifest, os.path.join(second, f"{split}.tsv"), shallow=False)
    if os.path.getsize(manifest):  # read as speech_manifest reads a split's manifest
      problem = registry.problem("speech_manifest")
      problem.configure(f"train_manifest={manifest},dev_manifest={manifest}")
      for waveform, text in problem.audio_samples(None, "train"):
        assert len(waveform) > audio.SAMPLE_RATE // 2 and len(text.split()) >= 4
        utterances += 1
  assert utterances == 6
