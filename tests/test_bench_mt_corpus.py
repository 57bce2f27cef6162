"""bench/make_mt_corpus.py: .mo parsing, cleaning, the hash split, and a whole build from
catalogs the test writes (no installed package is read)."""
import importlib.util
import json
import os
import struct

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _module():
  spec = importlib.util.spec_from_file_location(
      "make_mt_corpus", os.path.join(ROOT, "bench", "make_mt_corpus.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def write_mo(path, entries, order="<", charset="UTF-8"):
  """A compiled catalog as msgfmt writes it: header entry first, originals sorted."""
  entries = dict(entries)
  entries[""] = f"Content-Type: text/plain; charset={charset}\n"
  keys = sorted(entries)
  ids = [k.encode(charset) for k in keys]
  strs = [entries[k].encode(charset) for k in keys]
  n = len(keys)
  orig_at, trans_at = 28, 28 + 8 * n
  offset = trans_at + 8 * n
  orig_table, trans_table, blob = b"", b"", b""
  for table_ids in (ids, strs):
    table = b""
    for s in table_ids:
      table += struct.pack(order + "2I", len(s), offset + len(blob))
      blob += s + b"\0"
    if table_ids is ids:
      orig_table = table
    else:
      trans_table = table
  header = struct.pack(order + "7I", 0x950412de, 0, n, orig_at, trans_at, 0, 0)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as f:
    f.write(header + orig_table + trans_table + blob)


def test_read_mo_both_byte_orders_contexts_and_plurals(tmp_path):
  m = _module()
  entries = {"Open file": "Ouvrir le fichier", "menu\x04Quit": "Quitter",
             "%d file\x00%d files": "%d fichier\x00%d fichiers", "Untranslated": ""}
  for order in "<>":
    path = str(tmp_path / f"{order == '<'}.mo")
    write_mo(path, entries, order=order)
    with open(path, "rb") as f:
      pairs = m.catalog_pairs(f.read())
    assert sorted(pairs) == sorted([("Open file", "Ouvrir le fichier"), ("Quit", "Quitter"),
                                    ("%d file", "%d fichier"), ("%d files", "%d fichiers")])


def test_read_mo_latin1_charset(tmp_path):
  m = _module()
  path = str(tmp_path / "l1.mo")
  write_mo(path, {"Error": "Erreur à l'ouverture"}, charset="ISO-8859-1")
  with open(path, "rb") as f:
    assert m.catalog_pairs(f.read()) == [("Error", "Erreur à l'ouverture")]


def test_read_mo_rejects_other_files():
  m = _module()
  with pytest.raises(ValueError, match="magic"):
    m.read_mo(b"\x00" * 40)
  with pytest.raises(ValueError, match="short"):
    m.read_mo(b"\xde\x12\x04\x95")


def test_cleaning():
  m = _module()
  assert m.strip_accelerators("_Open File") == "Open File"
  assert m.strip_accelerators("&Save") == "Save"
  assert m.strip_accelerators("Fichier (_F)") == "Fichier"
  assert m.strip_accelerators("file_name and _x and _y") == "file_name and _x and _y"
  assert m.strip_accelerators("Tom && Jerry") == "Tom & Jerry"
  keep = m.clean_pair("  -a, --all    do not ignore\n  -b    list blocks\n",
                      "  -a, --all    ne pas ignorer\n  -b    lister les blocs\n", 50)
  assert keep == [("-a, --all do not ignore", "-a, --all ne pas ignorer"),
                  ("-b list blocks", "-b lister les blocs")]
  assert m.clean_pair("one\ntwo", "un deux", 50) == []          # lines do not align
  assert m.clean_pair("%s: %d", "%s : %d", 50) == []            # format-only
  assert m.clean_pair("<b>Bold</b> text", "texte <b>gras</b>", 50) == []  # markup
  assert m.clean_pair("Help", "Help", 50) == []                 # untranslated copy
  assert m.clean_pair("a b c d e f g", "x", 5) == []            # too long
  assert m.clean_pair("one two", "un deux trois quatre cinq six sept huit neuf", 50) == []


def test_split_is_a_function_of_the_source_alone():
  m = _module()
  sources = [f"sentence number {i}" for i in range(4000)]
  first = [m.split_of(s, 35, 35) for s in sources]
  assert first == [m.split_of(s, 35, 35) for s in sources]
  counts = {k: first.count(k) for k in ("train", "dev", "test")}
  assert 80 < counts["dev"] < 200 and 80 < counts["test"] < 200
  assert m.dedupe([("a", "x"), ("a", "y"), ("a", "y"), ("b", "z"), ("b", "w")]) == [
      ("a", "y"), ("b", "w")]


def test_build_writes_deterministic_splits(tmp_path):
  m = _module()
  root = tmp_path / "locale"
  write_mo(str(root / "fr" / "LC_MESSAGES" / "one.mo"),
           {f"Open the file number {i}": f"Ouvrir le fichier numéro {i}" for i in range(300)})
  write_mo(str(root / "fr" / "LC_MESSAGES" / "two.mo"),
           {"Open the file number 1": "Ouvrir le fichier numéro 1", "_Quit now": "_Quitter"})
  write_mo(str(root / "de" / "LC_MESSAGES" / "one.mo"), {"Quit now": "Beenden"})
  outs = []
  for name in ("a", "b"):
    out = tmp_path / name
    assert m.main(["--lang=fr", f"--out={out}", f"--roots={root}",
                   "--dev_permille=100", "--test_permille=100"]) == 0
    files = {f: (out / "en-fr" / f).read_text() for f in sorted(os.listdir(out / "en-fr"))
             if f != "manifest.json"}
    outs.append(files)
  assert outs[0] == outs[1]
  lines = [line for f, text in outs[0].items() if f.endswith(".en")
           for line in text.splitlines()]
  assert len(lines) == len(set(lines)) == 301 and "Quit now" in lines
  manifest = json.loads((tmp_path / "a" / "en-fr" / "manifest.json").read_text())
  assert sum(s["sentences"] for s in manifest["sizes"].values()) == 301
  assert len(manifest["catalogs"]) == 2


def test_build_without_catalogs_is_one_error(tmp_path):
  m = _module()
  with pytest.raises(SystemExit, match="no .mo catalogs for 'fr'"):
    m.main(["--lang=fr", f"--out={tmp_path}/out", f"--roots={tmp_path}"])
