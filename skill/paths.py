"""Where bedtime-stretch keeps its files (XDG base directories, with an override per kind)."""

from __future__ import annotations

import os
from pathlib import Path

APP = "bedtime-stretch"
_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent
"""The repository, when running from a checkout (editable install); in a wheel this is site-packages."""


def _shipped(inside: str, in_checkout: str) -> Path:
    """A folder of files that ship with the program: inside the package in a wheel (pyproject maps the
    checkout's top-level folder there), the top-level folder itself in a checkout."""
    packaged = _PACKAGE / inside
    return packaged if packaged.is_dir() else _CHECKOUT / in_checkout


PACKAGE_DATA = _PACKAGE / "data"
"""The guide's phrase texts and the recognizer's fitted data, inside the package in a checkout and a wheel."""
BUILTIN_ROUTINES = _shipped("builtin_routines", "routines")
SHIPPED_MODELS = _shipped("model_manifest", "models")
"""models/manifest.toml (and, in a checkout, models downloaded into models/)."""


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
