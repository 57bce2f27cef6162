import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def registrations():
  from t2t_lite import experiment
  experiment.load_registrations()


# Shared session fixtures that train something: tests that use one run in one pytest-xdist
# worker (`-n 2 --dist loadgroup`), so it is built once.
SHARED_RUN_GROUPS = {"translation": "translation"}


def pytest_collection_modifyitems(items):
  """Under pytest-xdist's loadgroup, each test module runs in one worker (its module-scoped
  fixtures are built once), and the modules sharing a session fixture that trains a model
  run in the same worker."""
  for item in items:
    if item.get_closest_marker("xdist_group"):
      continue
    shared = [g for f, g in SHARED_RUN_GROUPS.items() if f in item.fixturenames]
    item.add_marker(pytest.mark.xdist_group(shared[0] if shared else item.module.__name__))
