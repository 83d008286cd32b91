"""Where a session is, saved atomically as it goes, so after a power cut the next one can offer to continue."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from skill.paths import data_dir
from skill.script import Position

log = logging.getLogger(__name__)

OFFER_FOR = timedelta(hours=6)
"""An unfinished session older than this is last night's: tonight starts from the top."""


@dataclass(frozen=True)
class Progress:
    routine: str
    position: Position
    saved_at: datetime


def default_path() -> Path:
    return data_dir() / "progress.json"


def save(routine: str, position: Position, path: Path | None = None) -> None:
    """Write to a temp file, fsync, rename: a power cut leaves the old file or the new one, never half."""
    path = path or default_path()
    record = {"routine": routine, "stretch": position.stretch, "side": position.side,
              "repetition": position.repetition, "saved_at": datetime.now(UTC).isoformat()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as err:
        log.warning("could not save progress to %s: %s", path, err)


def clear(path: Path | None = None) -> None:
    with contextlib.suppress(OSError):
        (path or default_path()).unlink(missing_ok=True)


def load(routine: str, path: Path | None = None, now: datetime | None = None) -> Progress | None:
    """The saved place in `routine`, if a recent unfinished session left one; anything unreadable is None."""
    path = path or default_path()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        progress = Progress(routine=str(record["routine"]),
                            position=Position(int(record["stretch"]), int(record["side"]), int(record["repetition"])),
                            saved_at=datetime.fromisoformat(record["saved_at"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("ignoring unreadable progress file %s: %s", path, err)
        return None
    age = (now or datetime.now(UTC)) - progress.saved_at
    if progress.routine != routine or not timedelta(0) <= age <= OFFER_FOR:
        return None
    return progress
