"""Where a session is, one place per routine, saved atomically as it goes, so after a power cut the next
session can offer to continue.

How old a place is must not hang on the wall clock: a Raspberry Pi has no clock battery, so after a power
cut without network its clock runs behind (or starts in 1970) and the saved time lies in the future. Within
one boot the age comes from the boot clock (CLOCK_BOOTTIME, which also counts suspend); across boots from the
wall clock, where a saved time in the future means the clock went back, not that the place is stale.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from skill.paths import data_dir
from skill.routine.script import Position
from skill.records.set_aside import set_aside

log = logging.getLogger(__name__)

OFFER_FOR = timedelta(hours=6)
"""An unfinished session older than this is last night's: tonight starts from the top."""
_MAX_INDEX = 10_000
"""More stretches, sides or rounds than any routine has: a saved number past it is damage."""


@dataclass(frozen=True)
class Progress:
    routine: str
    position: Position
    saved_at: datetime


def default_path() -> Path:
    return data_dir() / "progress.json"


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _boot_seconds() -> float:
    clock = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
    return time.clock_gettime(clock)


def _read_places(path: Path) -> dict[str, Any]:
    """The saved places by routine; a file that cannot be read as one is set aside and counts as none."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        if path.is_file():
            set_aside(path, f"unreadable: {err}")
        else:
            log.warning("ignoring progress at %s: not a file", path)
        return {}
    places = _places_in(raw)
    if places is None:
        set_aside(path, "not a progress record")
        return {}
    return places


def _places_in(raw: Any) -> dict[str, Any] | None:
    """The places in a parsed progress file, either format; None if it is not a progress record."""
    if isinstance(raw, dict) and isinstance(raw.get("places"), dict):
        return raw["places"]
    if isinstance(raw, dict) and "routine" in raw:  # the first format: a single place
        return {str(raw["routine"]): raw}
    return None


def _write_places(path: Path, places: dict[str, Any]) -> None:
    """Write to a temp file, fsync, rename: a power cut leaves the old file or the new one, never half."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as f:
                json.dump({"version": 2, "places": places}, f)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    except OSError as err:
        log.warning("could not save progress to %s: %s", path, err)


def save(routine: str, position: Position, path: Path | None = None) -> None:
    path = path or default_path()
    places = _read_places(path)
    places[routine] = {"stretch": position.stretch, "side": position.side, "repetition": position.repetition,
                       "saved_at": datetime.now(UTC).isoformat(), "boot_id": _boot_id(),
                       "boot_seconds": round(_boot_seconds(), 3)}
    _write_places(path, places)


def clear(routine: str, path: Path | None = None) -> None:
    """Forget `routine`'s place (it was finished); other routines keep theirs."""
    path = path or default_path()
    places = _read_places(path)
    if places.pop(routine, None) is None:
        return
    if places:
        _write_places(path, places)
    else:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _index(record: dict[str, Any], key: str, low: int, default: int | None = None) -> int:
    value = record.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value != int(value) or not low <= value <= _MAX_INDEX:
        raise ValueError(f"{key}: {value!r} is not a whole number from {low}")
    return int(value)


def _parse(routine: str, record: Any) -> tuple[Progress, dict[str, Any]]:
    if not isinstance(record, dict):
        raise ValueError("not a table")
    when = datetime.fromisoformat(str(record["saved_at"]))
    if when.tzinfo is None:
        when = when.astimezone()  # written without a zone: local time, as a person would
    position = Position(_index(record, "stretch", 0), _index(record, "side", 0, 0),
                        _index(record, "repetition", 1, 1))
    return Progress(routine, position, when), record


def _age(progress: Progress, record: dict[str, Any], now: datetime | None) -> timedelta:
    boot, seconds = record.get("boot_id"), record.get("boot_seconds")
    if now is None and boot and boot == _boot_id() and isinstance(seconds, int | float) and math.isfinite(seconds):
        return timedelta(seconds=max(0.0, _boot_seconds() - seconds))
    age = (now or datetime.now(UTC)) - progress.saved_at
    return max(age, timedelta(0))  # saved "in the future": the clock went back, the place is fresh


def load(routine: str, path: Path | None = None, now: datetime | None = None) -> Progress | None:
    """The saved place in `routine`, if a recent unfinished session left one; anything unreadable is None.

    `now` (for tests) judges the age by the wall clock alone."""
    path = path or default_path()
    record = _read_places(path).get(routine)
    if record is None:
        return None
    try:
        progress, fields = _parse(routine, record)
    except (KeyError, ValueError, TypeError, OverflowError) as err:
        log.warning("ignoring the saved place of %s in %s: %s", routine, path, err)
        return None
    if _age(progress, fields, now) > OFFER_FOR:
        return None
    return progress


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str
    fix: str = ""


def diagnose(path: Path | None = None) -> Health | None:
    """The saved places, read-only (doctor); None when there is no file."""
    path = path or default_path()
    if not path.exists():
        return None
    if not path.is_file():
        return Health(False, f"{path} is not a file", f"move {path} out of the way")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return Health(False, f"{path} cannot be read ({err})", "nothing to do: the next session moves it aside")
    places = _places_in(raw)
    if places is None:
        return Health(False, f"{path} is not a progress record", "nothing to do: the next session moves it aside")
    return Health(True, f"unfinished: {', '.join(sorted(places)) or 'none'} ({path})")
