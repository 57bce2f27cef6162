"""A parallel corpus from the gettext catalogs this machine's packages install, offline.

Every compiled catalog (.mo) under LC_MESSAGES/ of the target language pairs each English
msgid with its translation. The pairs are cleaned (below), deduplicated by source, and split
into train/dev/test by a hash of the source sentence, so a rebuild on a machine with the same
catalogs gives the same files, and one source sentence never lands in two splits.

  python bench/make_mt_corpus.py --lang=fr --out=/work/mtdata/corpus
  # -> /work/mtdata/corpus/en-fr/{train,dev,test}.{en,fr}, manifest.json (sizes, packages)

Catalogs come from Debian packages (the list that built the corpus is in manifest.json,
with the package owning each catalog) and Python packages (site-packages/**/locale). The
corpus in bench/README.md came from the packages this project's machine has installed
(nothing was added for it); on another Debian 12 machine the same catalogs come with

  apt-get update && apt-get install -y \
      adduser appstream apt at-spi2-common bash binutils-common coreutils diffutils \
      dpkg findutils gettext gettext-base git gnupg-l10n grep \
      gsettings-desktop-schemas iso-codes libapt-pkg6.0 libavahi-common-data \
      libc-l10n libdpkg-perl libgdk-pixbuf2.0-common libglib2.0-data libgnutls30 \
      libgstreamer1.0-0 libgtk2.0-common libidn2-0 libpam-runtime libpq5 login make \
      man-db net-tools packagekit postgresql-15 postgresql-client-15 procps psmisc \
      python-apt-common sed shared-mime-info software-properties-common systemd tar \
      wget xdg-user-dirs xkb-data xz-utils

Cleaning: the header entry, untranslated and identical pairs dropped; catalog context
(msgctxt) removed; a plural entry gives (msgid, msgstr[0]) and (msgid_plural, msgstr[1]);
a multi-line entry whose sides have as many non-empty lines is split line by line (help
texts), otherwise dropped; keyboard accelerators (_File, &File) stripped; whitespace runs
collapsed; entries with markup (<b>, &amp;), no word of two letters outside printf/brace
placeholders, more than --max_words words, or a word-count ratio above 3 dropped. A source
with several translations keeps its most frequent one (ties: the smallest).
"""
import argparse
import collections
import glob
import hashlib
import json
import os
import re
import site
import struct
import subprocess
import sys

MO_MAGIC = 0x950412de
# Debian's and Python's catalog folders: <root>/<lang>/LC_MESSAGES/<domain>.mo
DEFAULT_ROOTS = (["/usr/share/locale", "/usr/share/locale-langpack", "/usr/share/*/locale",
                  "/usr/lib/python3*/**/locale", "/usr/local/lib/python3*/**/locale"]
                 + [f"{path}/**/locale" for path in site.getsitepackages()])


def read_mo(data):
  """(msgid, msgstr) byte strings of a compiled catalog, in file order.

  The format (GNU gettext manual, "The Format of GNU MO Files"): a magic number whose byte
  order gives the file's, a revision, the entry count, and the offsets of two tables of
  (length, offset) pairs, one for the originals and one for the translations.
  """
  if len(data) < 28:
    raise ValueError("too short for a .mo header")
  for order in "<>":
    magic, = struct.unpack(order + "I", data[:4])
    if magic == MO_MAGIC:
      break
  else:
    raise ValueError("not a .mo file (bad magic number)")
  _, count, orig_at, trans_at = struct.unpack(order + "4I", data[4:20])
  entries = []
  for i in range(count):
    olen, ooff = struct.unpack(order + "2I", data[orig_at + 8 * i:orig_at + 8 * i + 8])
    tlen, toff = struct.unpack(order + "2I", data[trans_at + 8 * i:trans_at + 8 * i + 8])
    if ooff + olen > len(data) or toff + tlen > len(data):
      raise ValueError(f"entry {i} points past the end of the file")
    entries.append((data[ooff:ooff + olen], data[toff:toff + tlen]))
  return entries


def _charset(entries):
  for msgid, msgstr in entries:
    if msgid == b"":
      m = re.search(rb"charset=([-\w]+)", msgstr)
      if m:
        return m.group(1).decode("ascii")
  return "utf-8"


def catalog_pairs(data):
  """(English, translation) text pairs of one .mo file, plural forms as two pairs."""
  entries = read_mo(data)
  charset = _charset(entries)
  pairs = []
  for msgid, msgstr in entries:
    if not msgid or not msgstr:
      continue  # the header, or an untranslated entry
    try:
      msgid, msgstr = msgid.decode(charset), msgstr.decode(charset)
    except (UnicodeDecodeError, LookupError):
      continue
    msgid = msgid.split("\x04", 1)[-1]  # drop msgctxt
    sources, targets = msgid.split("\x00"), msgstr.split("\x00")
    if len(sources) == 1:
      pairs.append((sources[0], targets[0]))
    else:  # singular with form 0, plural with form 1 (when the language has one)
      pairs.append((sources[0], targets[0]))
      if len(targets) > 1:
        pairs.append((sources[1], targets[1]))
  return pairs


_ACCEL_UNDERSCORE = re.compile(r"(?<![\w_])_(?=\w)")
_ACCEL_AMPERSAND = re.compile(r"&(?=\w)(?!\w+;)")
_CJK_ACCEL = re.compile(r"\s*\([_&]\w\)")
_MARKUP = re.compile(r"<[/a-zA-Z][^>]*>|&[a-zA-Z]+;|&#\d+;")
_PLACEHOLDER = re.compile(r"%(?:\d+\$)?[-+ #0']*\d*(?:\.\d+)?(?:hh|h|ll|l|L|z|j|t|q)?[a-zA-Z%]"
                          r"|%\([^)]*\)[a-zA-Z]|\{[^{}]*\}|\$\{?\w+\}?")
_WORD = re.compile(r"[^\W\d_]{2,}")


def strip_accelerators(text):
  """Remove GTK (_File) and Qt/KDE (&File) mnemonics: one marker before a letter."""
  text = _CJK_ACCEL.sub("", text)
  if len(_ACCEL_UNDERSCORE.findall(text)) == 1:
    text = _ACCEL_UNDERSCORE.sub("", text)
  if len(_ACCEL_AMPERSAND.findall(text)) == 1:
    text = _ACCEL_AMPERSAND.sub("", text)
  return text.replace("&&", "&")


def normalize(text):
  return " ".join(strip_accelerators(text).split())


def has_words(text):
  """At least one word of two letters outside placeholders (not format-only)."""
  return bool(_WORD.search(_PLACEHOLDER.sub(" ", text)))


def clean_pair(source, target, max_words):
  """The pair's line pairs, cleaned; [] when it is dropped."""
  s_lines = [line for line in source.split("\n") if line.strip()]
  t_lines = [line for line in target.split("\n") if line.strip()]
  if len(s_lines) != len(t_lines):
    return []
  out = []
  for s, t in zip(s_lines, t_lines):
    if _MARKUP.search(s) or _MARKUP.search(t):
      continue
    s, t = normalize(s), normalize(t)
    if not s or not t or s == t or not has_words(s) or not has_words(t):
      continue
    ns, nt = len(s.split()), len(t.split())
    if ns > max_words or nt > max_words or max(ns, nt) > 3 * min(ns, nt) + 2:
      continue
    out.append((s, t))
  return out


def split_of(source, dev_permille, test_permille):
  """'dev', 'test' or 'train' by the SHA-256 of the source text (stable everywhere)."""
  bucket = int(hashlib.sha256(source.encode("utf-8")).hexdigest()[:8], 16) % 1000
  if bucket < dev_permille:
    return "dev"
  if bucket < dev_permille + test_permille:
    return "test"
  return "train"


def dedupe(pairs):
  """One translation per source: the most frequent (ties: the smallest string)."""
  by_source = collections.defaultdict(collections.Counter)
  for s, t in pairs:
    by_source[s][t] += 1
  return sorted((s, min(c, key=lambda t: (-c[t], t))) for s, c in by_source.items())


def find_catalogs(lang, roots):
  found = set()
  for root in roots:
    for pattern in (f"{root}/{lang}/LC_MESSAGES/*.mo",):
      found.update(os.path.realpath(p) for p in glob.glob(pattern, recursive=True))
  return sorted(found)


def owning_packages(paths):
  """{path: Debian package} via one dpkg -S call; paths no package owns are left out."""
  if not paths:
    return {}
  try:
    out = subprocess.run(["dpkg", "-S"] + paths, capture_output=True, text=True).stdout
  except FileNotFoundError:
    return {}
  owners = {}
  for line in out.splitlines():
    pkgs, _, path = line.partition(": ")
    owners[path.strip()] = pkgs.split(",")[0].split(":")[0].strip()
  return owners


def build(lang, roots, max_words, dev_permille, test_permille, log=print):
  """{split: [(en, xx)]} and the manifest's catalog list."""
  catalogs = find_catalogs(lang, roots)
  if not catalogs:
    raise SystemExit(f"error: no .mo catalogs for '{lang}' under {', '.join(roots)}; install "
                     "packages with translations (see this script's docstring)")
  raw, used = [], []
  for path in catalogs:
    with open(path, "rb") as f:
      data = f.read()
    try:
      pairs = catalog_pairs(data)
    except ValueError as e:
      log(f"skipping {path}: {e}")
      continue
    kept = [cleaned for s, t in pairs for cleaned in clean_pair(s, t, max_words)]
    raw.extend(kept)
    used.append((path, len(pairs), len(kept)))
  splits = {"train": [], "dev": [], "test": []}
  for s, t in dedupe(raw):
    splits[split_of(s, dev_permille, test_permille)].append((s, t))
  return splits, used


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--lang", default="fr", help="target language folder name under locale/")
  p.add_argument("--out", default="/work/mtdata/corpus", help="writes OUT/en-LANG/")
  p.add_argument("--roots", default=",".join(DEFAULT_ROOTS),
                 help="comma-separated locale folders (glob patterns)")
  p.add_argument("--max_words", type=int, default=50)
  p.add_argument("--dev_permille", type=int, default=35)
  p.add_argument("--test_permille", type=int, default=35)
  p.add_argument("--count_langs", action="store_true",
                 help="only print the cleaned pair count of each language and exit")
  args = p.parse_args(argv)
  roots = args.roots.split(",")
  if args.count_langs:
    langs = sorted({os.path.basename(os.path.dirname(os.path.dirname(m)))
                    for r in roots for m in glob.glob(f"{r}/*/LC_MESSAGES/*.mo", recursive=True)})
    counts = {}
    for lang in langs:
      splits, _ = build(lang, roots, args.max_words, args.dev_permille, args.test_permille,
                        log=lambda *_: None)
      counts[lang] = sum(len(v) for v in splits.values())
    for lang, n in sorted(counts.items(), key=lambda kv: -kv[1])[:20]:
      print(f"{lang}\t{n}")
    return 0
  splits, used = build(args.lang, roots, args.max_words, args.dev_permille,
                       args.test_permille)
  out_dir = os.path.join(args.out, f"en-{args.lang}")
  os.makedirs(out_dir, exist_ok=True)
  sizes = {}
  for split, pairs in splits.items():
    for side, column in (("en", 0), (args.lang, 1)):
      tmp = os.path.join(out_dir, f"{split}.{side}.tmp")
      with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(pair[column] + "\n" for pair in pairs)
      os.replace(tmp, os.path.join(out_dir, f"{split}.{side}"))
    sizes[split] = {"sentences": len(pairs),
                    "en_words": sum(len(s.split()) for s, _ in pairs),
                    f"{args.lang}_words": sum(len(t.split()) for _, t in pairs)}
  owners = owning_packages([path for path, _, _ in used])
  manifest = {"lang_pair": f"en-{args.lang}", "sizes": sizes,
              "settings": {k: getattr(args, k) for k in
                           ("max_words", "dev_permille", "test_permille")},
              "packages": sorted(set(owners.values())),
              "catalogs": [{"path": path, "package": owners.get(path, ""),
                            "pairs": n, "kept_lines": k} for path, n, k in used]}
  with open(os.path.join(out_dir, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
  for split, size in sizes.items():
    print(f"{split}: {size}")
  print(f"{len(used)} catalogs from {len(manifest['packages'])} Debian packages; "
        f"wrote {out_dir}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
