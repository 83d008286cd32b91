"""Past sessions and the preferences set by voice, in SQLite in the data dir.

Nothing here may stop a session: a corrupt, locked or unwritable database is logged once and the
session carries on without history.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from skill.paths import data_dir

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    routine TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    completed INTEGER NOT NULL DEFAULT 0,
    stretches_done INTEGER NOT NULL DEFAULT 0,
    tempo REAL NOT NULL DEFAULT 1.0
);
CREATE TABLE IF NOT EXISTS preferences (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


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


class History:
    def __init__(self, path: Path | None = None):
        self.path = path or default_path()
        self._db: sqlite3.Connection | None = None
        self._broken = False

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection | None]:
        """The connection, or None once the database has failed; any error disables history."""
        if self._broken:
            yield None
            return
        try:
            if self._db is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, timeout=1.0, check_same_thread=False)
                self._db.executescript(_SCHEMA)
            with self._db:
                yield self._db
        except (sqlite3.Error, OSError) as err:
            self._broken = True
            log.warning("history is off for this session (%s: %s)", self.path, err)
            yield None

    def start_session(self, routine: str, tempo: float) -> int | None:
        with self._conn() as db:
            if db is None:
                return None
            cur = db.execute("INSERT INTO sessions (routine, started_at, tempo) VALUES (?, ?, ?)",
                             (routine, _now().isoformat(), tempo))
            return cur.lastrowid
        return None

    def finish_session(self, session_id: int | None, completed: bool, stretches_done: int, tempo: float) -> None:
        if session_id is None:
            return
        with self._conn() as db:
            if db is not None:
                db.execute("UPDATE sessions SET ended_at = ?, completed = ?, stretches_done = ?, tempo = ? "
                           "WHERE id = ?", (_now().isoformat(), int(completed), stretches_done, tempo, session_id))

    def recent(self, limit: int = 10) -> list[SessionRecord]:
        with self._conn() as db:
            if db is None:
                return []
            rows = db.execute("SELECT id, routine, started_at, ended_at, completed, stretches_done, tempo "
                              "FROM sessions ORDER BY started_at DESC LIMIT ?", (limit,)).fetchall()
            return [SessionRecord(r[0], r[1], datetime.fromisoformat(r[2]),
                                  datetime.fromisoformat(r[3]) if r[3] else None, bool(r[4]), r[5], r[6])
                    for r in rows]
        return []

    def streak(self, today: date | None = None) -> int:
        """Nights in a row, up to today (or yesterday, if tonight's is still to come), with a completed session."""
        with self._conn() as db:
            if db is None:
                return 0
            rows = db.execute("SELECT started_at FROM sessions WHERE completed = 1").fetchall()
            days = {datetime.fromisoformat(r[0]).astimezone().date() for r in rows}
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

    def preferences(self) -> Preferences:
        with self._conn() as db:
            if db is None:
                return Preferences()
            values = dict(db.execute("SELECT key, value FROM preferences").fetchall())
        try:
            return Preferences(tempo=float(values.get("tempo", 1.0)), volume_db=float(values.get("volume_db", 0.0)),
                               voice=values.get("voice") or None)
        except ValueError:
            return Preferences()

    def remember(self, **values: float | str | None) -> None:
        with self._conn() as db:
            if db is not None:
                db.executemany("INSERT INTO preferences (key, value) VALUES (?, ?) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                               [(k, "" if v is None else str(v)) for k, v in values.items()])

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
