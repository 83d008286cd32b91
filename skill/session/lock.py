"""One session at a time per user: two would talk over each other through one speaker and each hear the
other's voice as the person. The lock is an flock on a file in the runtime dir, so it goes with the
process however that ends (even kill -9): there is no stale lock to clean up."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from skill.errors import UserError
from skill.paths import runtime_dir


def lock_path() -> Path:
    return runtime_dir() / "session.lock"


@contextlib.contextmanager
def one_session(what: str = "session") -> Iterator[None]:
    """Hold the session lock for the block; UserError (exit 2) if another process holds it."""
    path = lock_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise UserError(f"{path}: cannot make the session lock ({err.strerror}); check that folder's "
                        "permissions, or set XDG_RUNTIME_DIR") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise UserError(f"another bedtime-stretch session is already running ({holder}): stop it first "
                            "(say stop, or Ctrl-C there), or wait for it to end") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, {what}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def holder() -> str | None:
    """Who holds the session lock now (doctor), or None when no session runs."""
    path = lock_path()
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
    finally:
        os.close(fd)
    return None
