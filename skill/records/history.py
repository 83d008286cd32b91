"""Past sessions and the preferences set by voice, in SQLite in the data dir.

Nothing here may stop a session. A database that another process holds is waited for briefly, then the
session runs without history; a damaged one is set aside (renamed, never deleted: its rows are copied into
the new one as far as they can be read) and a new one is made; an older schema is upgraded in place; a
full disk or an unwritable folder turns history off for the session, with one logged line each.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from skill.session.effects import VOLUME_MAX_DB, VOLUME_MIN_DB
from skill.routine.pacer import TEMPO_MAX, TEMPO_MIN
from skill.paths import data_dir
from skill.records.set_aside import set_aside

log = logging.getLogger(__name__)

T = TypeVar("T")

LOCK_WAIT_SECONDS = 2.0
"""How long a session waits for a database another process holds before it goes on without history."""

_SESSION_COLUMNS = {
    "routine": "TEXT NOT NULL DEFAULT ''",
    "started_at": "TEXT NOT NULL DEFAULT ''",
    "ended_at": "TEXT",
    "completed": "INTEGER NOT NULL DEFAULT 0",
    "stretches_done": "INTEGER NOT NULL DEFAULT 0",
    "tempo": "REAL NOT NULL DEFAULT 1.0",
}
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY, "
    + ", ".join(f"{name} {kind}" for name, kind in _SESSION_COLUMNS.items())
    + ");\nCREATE TABLE IF NOT EXISTS preferences (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
)


@dataclass(frozen=True)
class SessionRecord:
    id: int
    routine: str
    started_at: datetime
    ended_at: datetime | None
    completed: bool
    stretches_done: int
    tempo: float


@dataclass(frozen=True)
class Preferences:
    tempo: float = 1.0
    volume_db: float = 0.0
    voice: str | None = None


def default_path() -> Path:
    return data_dir() / "history.sqlite3"


def _now() -> datetime:
    return datetime.now(UTC)


def _is_busy(err: sqlite3.Error) -> bool:
    return isinstance(err, sqlite3.OperationalError) and ("locked" in str(err) or "busy" in str(err))


def _is_damage(err: sqlite3.Error) -> bool:
    """Damage, as against a fault of the moment (locked, disk full, unwritable folder)."""
    if isinstance(err, sqlite3.OperationalError):
        return False
    return isinstance(err, sqlite3.DatabaseError) and not isinstance(err, sqlite3.IntegrityError)


def _in_range(name: str, raw: str | None, default: float, low: float, high: float) -> float:
    """A stored number, clamped into its range; dropped (the default) if it is not a number at all, or is
    zero or negative where the range is positive (a tempo of 0 or -1 is damage, not a pace)."""
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    nonsense = low > 0 and value <= 0
    if not math.isfinite(value) or nonsense:
        log.warning("ignoring the stored %s %r: not a usable value (using %g)", name, raw, default)
        return default
    clamped = min(high, max(low, value))
    if clamped != value:
        log.warning("the stored %s %r is out of range: using %g", name, raw, clamped)
    return clamped


class History:
    def __init__(self, path: Path | None = None):
        self.path = path or default_path()
        self._db: sqlite3.Connection | None = None
        self._off = False

    # ---- the connection ---------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=LOCK_WAIT_SECONDS, check_same_thread=False)
        try:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {verdict}")
            with db:
                db.executescript(_SCHEMA)
                have = {row[1] for row in db.execute("PRAGMA table_info(sessions)")}
                for name, kind in _SESSION_COLUMNS.items():
                    if name not in have:  # an older schema: add what it lacks, keep every row
                        db.execute(f"ALTER TABLE sessions ADD COLUMN {name} {kind}")
        except BaseException:
            db.close()
            raise
        return db

    def _open(self) -> sqlite3.Connection | None:
        if self._off:
            return None
        if self._db is None:
            try:
                self._db = self._connect()
            except sqlite3.Error as err:
                if not _is_damage(err):
                    raise
                self._db = self._rebuild(str(err))
        return self._db

    def _rebuild(self, why: str) -> sqlite3.Connection:
        """Set the damaged file aside and start a new one with whatever rows of the old one still read."""
        rows, prefs = _salvage(self.path)
        moved = set_aside(self.path, why)
        if moved is None:
            raise sqlite3.OperationalError(f"damaged ({why}) and cannot be moved aside")
        for extra in ("-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                self.path.with_name(self.path.name + extra).rename(moved.with_name(moved.name + extra))
        db = self._connect()
        with db:
            db.executemany(f"INSERT OR IGNORE INTO sessions (id, {', '.join(_SESSION_COLUMNS)}) "
                           f"VALUES ({', '.join('?' * (len(_SESSION_COLUMNS) + 1))})", rows)
            db.executemany("INSERT OR IGNORE INTO preferences (key, value) VALUES (?, ?)", prefs)
        if rows or prefs:
            log.warning("copied %d sessions and %d preferences from the damaged history", len(rows), len(prefs))
        return db

    def _do(self, work: Callable[[sqlite3.Connection], T], default: T) -> T:
        """`work` in one transaction; on any database fault, history is off for the rest of this session."""
        try:
            db = self._open()
            if db is None:
                return default
            with db:
                return work(db)
        except (sqlite3.Error, OSError) as err:
            self._off = True
            self.close()
            if isinstance(err, sqlite3.Error) and _is_busy(err):
                log.warning("history is off for this session: %s is in use by another program", self.path)
            else:
                log.warning("history is off for this session (%s: %s)", self.path, err)
            return default

    # ---- sessions ---------------------------------------------------------------------------------------

    def start_session(self, routine: str, tempo: float) -> int | None:
        def insert(db: sqlite3.Connection) -> int | None:
            cur = db.execute("INSERT INTO sessions (routine, started_at, tempo) VALUES (?, ?, ?)",
                             (routine, _now().isoformat(), tempo))
            return cur.lastrowid

        return self._do(insert, None)

    def finish_session(self, session_id: int | None, completed: bool, stretches_done: int, tempo: float) -> None:
        if session_id is None:
            return
        self._do(lambda db: db.execute(
            "UPDATE sessions SET ended_at = ?, completed = ?, stretches_done = ?, tempo = ? WHERE id = ?",
            (_now().isoformat(), int(completed), stretches_done, tempo, session_id)), None)

    def recent(self, limit: int = 10) -> list[SessionRecord]:
        limit = max(0, min(limit, 2**62))
        rows: list[tuple] = self._do(lambda db: db.execute(
            "SELECT id, routine, started_at, ended_at, completed, stretches_done, tempo "
            "FROM sessions ORDER BY started_at DESC LIMIT ?", (limit,)).fetchall(), [])
        return list(_records(rows))

    def streak(self, today: date | None = None) -> int:
        """Nights in a row, up to today (or yesterday, if tonight's is still to come), with a completed session."""
        rows: list[tuple] = self._do(
            lambda db: db.execute("SELECT started_at FROM sessions WHERE completed = 1").fetchall(), [])
        days = {when.astimezone().date() for (raw,) in rows if (when := _parse_time(raw)) is not None}
        if not days:
            return 0
        day = today or datetime.now().astimezone().date()
        if day not in days:
            day -= timedelta(days=1)
        count = 0
        while day in days:
            count += 1
            day -= timedelta(days=1)
        return count

    # ---- preferences ------------------------------------------------------------------------------------

    def preferences(self) -> Preferences:
        """The remembered tempo and volume, each checked on its own: a bad one never costs the other."""
        values: dict[str, str] = dict(self._do(lambda db: db.execute("SELECT key, value FROM preferences").fetchall(),
                                               []))
        return Preferences(tempo=_in_range("tempo", values.get("tempo"), 1.0, TEMPO_MIN, TEMPO_MAX),
                           volume_db=_in_range("volume", values.get("volume_db"), 0.0, VOLUME_MIN_DB, VOLUME_MAX_DB),
                           voice=values.get("voice") or None)

    def remember(self, **values: float | str | None) -> None:
        self._do(lambda db: db.executemany(
            "INSERT INTO preferences (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, "" if v is None else str(v)) for k, v in values.items()]), None)

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None


def _parse_time(raw: object) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(raw))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _records(rows: Iterable[tuple]) -> Iterable[SessionRecord]:
    """Rows as records; a row whose start cannot be read is left out of the listing (not out of the file)."""
    for r in rows:
        started = _parse_time(r[2])
        if started is None:
            continue
        tempo = float(r[6]) if isinstance(r[6], int | float) and math.isfinite(r[6]) else 1.0
        yield SessionRecord(int(r[0]), str(r[1]), started, _parse_time(r[3]) if r[3] else None, bool(r[4]),
                            int(r[5]) if isinstance(r[5], int) else 0, tempo)


def _salvage(path: Path) -> tuple[list[tuple], list[tuple]]:
    """Whatever sessions and preferences a damaged database still gives up, row by row."""
    sessions: list[tuple] = []
    prefs: list[tuple] = []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1)
    except sqlite3.Error:
        return sessions, prefs
    try:
        with contextlib.suppress(sqlite3.Error):
            for row in db.execute(f"SELECT id, {', '.join(_SESSION_COLUMNS)} FROM sessions"):
                sessions.append(tuple(row))
        with contextlib.suppress(sqlite3.Error):
            prefs.extend(tuple(row) for row in db.execute("SELECT key, value FROM preferences"))
    finally:
        db.close()
    return sessions, prefs


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str
    fix: str = ""


def diagnose(path: Path | None = None) -> list[Health]:
    """What state the history file is in, read-only (doctor): nothing here changes or moves it."""
    from skill.records.set_aside import set_aside_copies

    path = path or default_path()
    found: list[Health] = []
    if not path.exists():
        found.append(Health(True, f"none yet ({path})"))
    else:
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=LOCK_WAIT_SECONDS)
            try:
                verdict = db.execute("PRAGMA quick_check").fetchone()[0]
                if verdict != "ok":
                    raise sqlite3.DatabaseError(verdict)
                have = {row[1] for row in db.execute("PRAGMA table_info(sessions)")}
                count = db.execute("SELECT count(*) FROM sessions").fetchone()[0] if have else 0
                values = dict(db.execute("SELECT key, value FROM preferences").fetchall()) if have else {}
            finally:
                db.close()
            old = sorted(set(_SESSION_COLUMNS) - have) if have else []
            found.append(Health(True, f"{count} sessions in {path}"
                                + (f" (an older layout, lacking {', '.join(old)}: upgraded at the next session)"
                                   if old else "")))
            for key, low, high in (("tempo", TEMPO_MIN, TEMPO_MAX), ("volume_db", VOLUME_MIN_DB, VOLUME_MAX_DB)):
                raw = values.get(key)
                try:
                    bad = raw is not None and not low <= float(raw) <= high
                except ValueError:
                    bad = True
                if bad:
                    found.append(Health(False, f"the stored {key} {raw!r} is outside {low:g}..{high:g}",
                                        "nothing to do: sessions clamp it, and the next one stores a good value"))
        except sqlite3.Error as err:
            if _is_busy(err):
                found.append(Health(False, f"{path} is in use by another program",
                                    "close the other bedtime-stretch (sessions run without history meanwhile)"))
            else:
                found.append(Health(False, f"{path} is damaged ({err})",
                                    "nothing to do: the next session moves it aside, keeps what it can read, "
                                    "and starts a new one"))
    copies = set_aside_copies(path)
    if copies:
        found.append(Health(True, f"{len(copies)} damaged copies kept beside it ({copies[-1].name}); "
                            "delete them once you no longer need them"))
    return found
