"""Every test run gets its own data and config dirs, so no test reads or writes the user's history,
progress or routines (subprocesses inherit these too). The cache dir is left alone: rendered phrases
are the same for everyone and slow to make."""

import atexit
import os
import shutil
import tempfile

_root = tempfile.mkdtemp(prefix="bedtime-stretch-tests-")
atexit.register(shutil.rmtree, _root, ignore_errors=True)
os.environ["XDG_DATA_HOME"] = os.path.join(_root, "data")
os.environ["XDG_CONFIG_HOME"] = os.path.join(_root, "config")
