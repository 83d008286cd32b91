"""Where bedtime-stretch keeps its files (XDG base directories, with an override per kind)."""

from __future__ import annotations

import os
from pathlib import Path

APP = "bedtime-stretch"
REPO_ROOT = Path(__file__).resolve().parent.parent
BUILTIN_ROUTINES = REPO_ROOT / "routines"


def _xdg(var: str, default: str) -> Path:
    base = os.environ.get(var) or str(Path.home() / default)
    return Path(base) / APP


def cache_dir() -> Path:
    """Rendered phrases and other things that can be made again."""
    return _xdg("XDG_CACHE_HOME", ".cache")


def data_dir() -> Path:
    """Models, history, saved progress."""
    return _xdg("XDG_DATA_HOME", ".local/share")


def config_dir() -> Path:
    """The user's own routines (config_dir()/routines/*.toml)."""
    return _xdg("XDG_CONFIG_HOME", ".config")


def runtime_dir() -> Path:
    """Per-user files that live as long as a login (the session lock): $XDG_RUNTIME_DIR, else a private
    folder in the temp dir."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        return Path(base) / APP
    import tempfile

    return Path(tempfile.gettempdir()) / f"{APP}-{os.getuid()}"
