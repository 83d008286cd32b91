"""Files the program keeps that turn out damaged are moved out of the way, never deleted: what the person
made (their history) may still be read out of them by hand."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".damaged-"


def set_aside(path: Path, why: str) -> Path | None:
    """Rename `path` to `path.damaged-YYYYmmdd-HHMMSS` (a number added if taken); the new name, or None if
    it could not be moved (then it stays where it is and is only ignored)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}{SUFFIX}{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}{SUFFIX}{stamp}-{n}")
    try:
        path.rename(target)
    except OSError as err:
        log.warning("%s is damaged (%s) and could not be moved aside (%s); it is ignored", path, why, err)
        return None
    log.warning("%s was damaged (%s): moved it to %s and started a new one", path, why, target.name)
    return target


def set_aside_copies(path: Path) -> list[Path]:
    """The damaged copies of `path` set aside so far, oldest first."""
    return sorted(path.parent.glob(f"{path.name}{SUFFIX}*")) if path.parent.is_dir() else []
