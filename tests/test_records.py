"""History, preferences and saved progress: they remember, and they never stop a session."""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from skill import progress
from skill.bookkeeping import Bookkeeper
from skill.cli import main
from skill.history import History
from skill.routine import load_routine
from skill.script import Position
from skill.session import run_text_session


def test_sessions_and_streak(tmp_path: Path) -> None:
    h = History(tmp_path / "h.sqlite3")
    for days_ago in (0, 1, 2, 4):
        sid = h.start_session("bedtime-lower-back", 1.0)
        h.finish_session(sid, completed=True, stretches_done=8, tempo=1.0)
        with sqlite3.connect(h.path) as db:
            when = datetime.now(UTC) - timedelta(days=days_ago)
            db.execute("UPDATE sessions SET started_at = ? WHERE id = ?", (when.isoformat(), sid))
    unfinished = h.start_session("bedtime-lower-back", 1.25)
    h.finish_session(unfinished, completed=False, stretches_done=3, tempo=1.25)
    assert h.streak() == 3
    assert h.streak(today=date.today() + timedelta(days=1)) == 3  # tonight's session still to come
    assert h.streak(today=date.today() + timedelta(days=2)) == 0
    recent = h.recent(10)
    assert len(recent) == 5 and recent[0].completed is False and recent[0].stretches_done == 3


def test_preferences_are_remembered(tmp_path: Path) -> None:
    h = History(tmp_path / "h.sqlite3")
    assert h.preferences().tempo == 1.0
    h.remember(tempo=1.25, volume_db=-3.0)
    h.close()
    prefs = History(tmp_path / "h.sqlite3").preferences()
    assert prefs.tempo == 1.25 and prefs.volume_db == -3.0


def test_a_corrupt_database_never_stops_anything(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    h = History(path)
    assert h.start_session("r", 1.0) is None
    h.finish_session(None, True, 8, 1.0)
    assert h.recent() == [] and h.streak() == 0 and h.preferences().tempo == 1.0
    h.remember(tempo=2.0)
    assert "history is off" in caplog.text
    assert path.read_bytes().startswith(b"this is not a database")  # left as it was


def test_a_locked_database_never_stops_anything(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    History(path).start_session("r", 1.0)
    locker = sqlite3.connect(path)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        h = History(path)
        assert h.start_session("r", 1.0) is None
    finally:
        locker.rollback()
        locker.close()


def test_progress_round_trip_age_and_routine(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    progress.save("bedtime-lower-back", Position(4, 0, 2), path)
    saved = progress.load("bedtime-lower-back", path)
    assert saved is not None and saved.position == Position(4, 0, 2)
    assert progress.load("another-routine", path) is None
    later = datetime.now(UTC) + timedelta(hours=7)
    assert progress.load("bedtime-lower-back", path, now=later) is None
    assert not list(tmp_path.glob(".*tmp"))  # the temp file was renamed into place
    progress.clear(path)
    assert progress.load("bedtime-lower-back", path) is None


@pytest.mark.parametrize("content", ["", "{", '{"routine": "x"}', '{"routine": "bedtime-lower-back", "stretch": "a"}'])
def test_unreadable_progress_is_ignored(tmp_path: Path, content: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(content)
    assert progress.load("bedtime-lower-back", path) is None


class CommandsThenStop(io.StringIO):
    """Typed commands a little apart, then "stop" once the first stretch has begun (like a power cut would
    leave it: unfinished)."""

    def __init__(self, lines: list[str], events: io.StringIO):
        super().__init__()
        self._lines, self._events = lines, events

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        for line in self._lines:
            time.sleep(0.3)
            yield line + "\n"
        deadline = time.monotonic() + 30
        while '"stretch"' not in self._events.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        yield "stop\n"


def test_a_text_session_records_history_progress_and_preferences(tmp_path: Path) -> None:
    routine = load_routine()
    book = Bookkeeper(routine, History(tmp_path / "h.sqlite3"), tmp_path / "p.json")
    events = io.StringIO()
    state = run_text_session(routine, events=events, commands=CommandsThenStop(["start", "slower", "quieter"], events),
                             out=io.StringIO(), book=book)
    assert state is not None and not state.completed
    saved = progress.load(routine.id, tmp_path / "p.json")
    assert saved is not None and saved.position == Position(0, 0, 1)
    history = History(tmp_path / "h.sqlite3")
    assert history.recent()[0].completed is False
    prefs = history.preferences()
    assert prefs.tempo == pytest.approx(1.25) and prefs.volume_db == -3.0
    # the next session starts at the remembered tempo and offers to continue
    book2 = Bookkeeper(routine, History(tmp_path / "h.sqlite3"), tmp_path / "p.json")
    assert book2.preferences().tempo == pytest.approx(1.25)
    assert book2.offer() == Position(0, 0, 1)


def test_history_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert main(["history"]) == 0
    assert "No sessions yet" in capsys.readouterr().out
    h = History()
    sid = h.start_session("bedtime-lower-back", 1.0)
    h.finish_session(sid, True, 8, 1.0)
    h.close()
    assert main(["history"]) == 0
    out = capsys.readouterr().out
    assert "bedtime-lower-back" in out and "yes" in out and "Current streak: 1 night in a row." in out
