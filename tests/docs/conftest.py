# The shared runs a docs page may start from (<!-- test-setup: PATH=NAME -->): the same
# session-wide builds the binaries' tests use (built once per session, under pytest-xdist
# too), so the docs' tests add no training of their own for them.
from tests.bin.conftest import data_dir, translation  # noqa: F401
