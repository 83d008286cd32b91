"""Every test run gets its own data and config dirs, so no test reads or writes the user's history,
progress, routines or session lock (subprocesses inherit these too). The cache dir is left alone: rendered phrases
are the same for everyone and slow to make."""

import atexit
import os
import shutil
import tempfile

_root = tempfile.mkdtemp(prefix="bedtime-stretch-tests-")
atexit.register(shutil.rmtree, _root, ignore_errors=True)
os.environ["XDG_DATA_HOME"] = os.path.join(_root, "data")
os.environ["XDG_CONFIG_HOME"] = os.path.join(_root, "config")
os.environ["XDG_RUNTIME_DIR"] = os.path.join(_root, "runtime")
os.makedirs(os.environ["XDG_RUNTIME_DIR"], mode=0o700)


import pytest  # noqa: E402

from tests import real_set  # noqa: E402


@pytest.fixture(scope="module")
def real_judges() -> list[real_set.RealClip]:
    """Real people nothing was fitted on (tests/real_set.py keeps the split): the recognizers' tests."""
    clips = [c for c in real_set.load() if not c.for_fitting]
    if not clips:
        pytest.skip(f"no recordings of real people at {real_set.real_dir()}")
    return clips
