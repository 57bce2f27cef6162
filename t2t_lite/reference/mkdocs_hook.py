"""MkDocs hook (mkdocs.yml `hooks:`): adds the generated reference pages to the site's files
at every build, so the site's reference is the declarations of the code being built.

A hook rather than the mkdocs-gen-files plugin: File.generated (MkDocs 1.6) adds a page
from a string in one call, with no plugin to install and no temporary files, and strict
mode checks the generated pages' links like any other page's."""
from mkdocs.structure.files import File

from t2t_lite.reference import pages


def on_files(files, config):
  for path, text in pages.build().items():
    files.append(File.generated(config, path, content=text))
  return files
