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
