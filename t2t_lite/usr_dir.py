"""--t2t_usr_dir: import a user's directory so its @register_* decorators run."""
import importlib
import os
import sys

from t2t_lite.errors import UserError


def import_usr_dir(usr_dir):
  """Imports `usr_dir` as a package (its __init__.py imports the user's modules).

  An error inside the user's code propagates with its own traceback: hiding it would
  leave the user guessing which line of their code is wrong.
  """
  if not usr_dir:
    return
  path = os.path.abspath(os.path.expanduser(usr_dir.rstrip("/")))
  if not os.path.isdir(path):
    raise UserError(f"--t2t_usr_dir={usr_dir} is not a directory")
  parent, name = os.path.split(path)
  if not name.isidentifier():
    raise UserError(f"--t2t_usr_dir={usr_dir}: the folder name '{name}' must be a valid "
                    "Python package name")
  if not os.path.exists(os.path.join(path, "__init__.py")):
    # A folder of modules without __init__.py: import each module in it.
    sys.path.insert(0, path)
    for f in sorted(os.listdir(path)):
      if f.endswith(".py"):
        importlib.import_module(f[:-3])
    return
  sys.path.insert(0, parent)
  importlib.import_module(name)
