"""The MkDocs hook adds the generated pages to the site's files (loaded as mkdocs.yml's
`hooks:` loads it, and run as a build runs it)."""
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files

from t2t_lite.reference import mkdocs_hook, pages


def test_generated_pages_join_the_sites_files(tmp_path, monkeypatch):
  monkeypatch.setattr(pages, "build", lambda: {"reference/x.md": "# X\n"})
  config = MkDocsConfig()
  config.load_dict({"site_name": "t", "docs_dir": str(tmp_path / "docs"),
                    "site_dir": str(tmp_path / "site"), "hooks": [mkdocs_hook.__file__]})
  (tmp_path / "docs").mkdir()
  assert config.validate() == ([], [])
  files = config.plugins.on_files(Files([]), config=config)
  (page,) = list(files)
  assert (page.src_uri, page.content_string) == ("reference/x.md", "# X\n")
  assert page.is_documentation_page() and page.dest_uri == "reference/x/index.html"
