"""--t2t_usr_dir: a package, or a folder of modules, imported so its registrations run."""
import sys

import pytest

from t2t_lite import usr_dir
from t2t_lite.errors import UserError


def test_a_package_and_a_folder_of_modules(tmp_path, monkeypatch):
  monkeypatch.setattr(sys, "path", list(sys.path))
  package = tmp_path / "my_usr_pkg"
  package.mkdir()
  (package / "__init__.py").write_text("LOADED = True\n")
  usr_dir.import_usr_dir(str(package))
  assert sys.modules["my_usr_pkg"].LOADED
  folder = tmp_path / "loose_usr_modules"
  folder.mkdir()
  (folder / "loose_usr_a.py").write_text("VALUE = 3\n")
  usr_dir.import_usr_dir(str(folder))
  assert sys.modules["loose_usr_a"].VALUE == 3
  usr_dir.import_usr_dir(None)  # nothing to do


def test_bad_usr_dirs_are_user_errors(tmp_path):
  with pytest.raises(UserError, match="is not a directory"):
    usr_dir.import_usr_dir(str(tmp_path / "missing"))
  bad = tmp_path / "not-a-name"
  bad.mkdir()
  with pytest.raises(UserError, match="valid Python package name"):
    usr_dir.import_usr_dir(str(bad))
