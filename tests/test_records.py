"""History, preferences and saved progress: they remember, and they never stop a session."""

from __future__ import annotations

import io
import json
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from skill.records import progress
from skill.records.bookkeeping import Bookkeeper
from skill.cli import main
from skill.session.loop import simulate
from skill.records.history import History
from skill.routine.definition import load_routine
from skill.routine.script import Position
from skill.session.wiring import run_text_session


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


def test_a_database_that_is_not_one_is_set_aside_and_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    h = History(path)
    sid = h.start_session("r", 1.0)
    assert sid is not None  # a new database, at once
    h.finish_session(sid, True, 8, 1.0)
    assert len(h.recent()) == 1 and h.streak() == 1
    assert "moved it to" in caplog.text
    (aside,) = tmp_path.glob("h.sqlite3.damaged-*")
    assert aside.read_bytes().startswith(b"this is not a database")  # set aside, never deleted


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
    progress.clear("bedtime-lower-back", path)
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


# ---- faults in the files the program keeps -------------------------------------------------------------


def _history_with_sessions(path: Path, count: int) -> None:
    h = History(path)
    for i in range(count):
        sid = h.start_session(f"routine-{i:04d}-" + "x" * 200, 1.0)
        h.finish_session(sid, True, 8, 1.0)
    h.remember(tempo=1.25, volume_db=-3.0)
    h.close()


def test_a_damaged_database_keeps_the_rows_it_still_can(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    _history_with_sessions(path, 300)
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 10 * page
    data[6 * page:7 * page] = b"\xff" * page  # a page in the middle of the sessions table
    path.write_bytes(bytes(data))
    h = History(path)
    kept = h.recent(1000)
    assert 0 < len(kept) < 300
    assert h.preferences().volume_db == -3.0  # the preferences page was not hit
    assert h.start_session("after", 1.0) is not None
    assert len(list(tmp_path.glob("h.sqlite3.damaged-*"))) == 1


def test_an_older_schema_is_upgraded_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sessions (id INTEGER PRIMARY KEY, routine TEXT NOT NULL, started_at TEXT NOT NULL, "
                   "completed INTEGER NOT NULL DEFAULT 0)")
        db.execute("INSERT INTO sessions (routine, started_at, completed) VALUES ('r', ?, 1)",
                   (datetime.now(UTC).isoformat(),))
    db.close()
    h = History(path)
    sid = h.start_session("r", 1.25)
    h.finish_session(sid, False, 3, 1.25)
    rows = h.recent()
    assert [r.completed for r in rows] == [False, True] or [r.completed for r in rows] == [True, False]
    assert {r.tempo for r in rows} == {1.0, 1.25} and h.streak() == 1
    assert not list(tmp_path.glob("h.sqlite3.damaged-*"))


@pytest.mark.parametrize(("tempo", "expected"), [("nan", 1.0), ("-1", 1.0), ("0", 1.0), ("1000", 2.0), ("0.1", 0.5),
                                                 ("inf", 1.0), ("fast", 1.0), ("1.25", 1.25)])
def test_stored_preferences_are_clamped_each_on_its_own(tmp_path: Path, tempo: str, expected: float) -> None:
    path = tmp_path / "h.sqlite3"
    History(path).remember(volume_db=-6.0)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO preferences (key, value) VALUES ('tempo', ?)", (tempo,))
    db.close()
    prefs = History(path).preferences()
    assert prefs.tempo == expected and prefs.volume_db == -6.0  # a bad tempo never costs the volume


def test_a_stored_tempo_of_nan_neither_crashes_nor_races_the_routine(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    History(path).remember(tempo="nan", volume_db="99")
    routine = load_routine("tests/data/short-routine.toml")
    book = Bookkeeper(routine, History(path), tmp_path / "p.json")
    events = io.StringIO()
    state = run_text_session(routine, events=events, commands=io.StringIO("start\nstop\nstop\n"), out=io.StringIO(),
                             book=book)
    assert state is not None and state.tempo == 1.0 and state.volume_db == 9.0
    record = History(path).recent()[0]
    assert record.tempo == 1.0


def _run_in_child(code: str, *, fsize: int | None = None) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter, with a file-size limit (a full disk, as sqlite sees it) if given."""
    def limit() -> None:
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          preexec_fn=limit)


SESSION_THEN_RECORD = """
import io, sys
from pathlib import Path
from skill.records.bookkeeping import Bookkeeper
from skill.records.history import History
from skill.routine.definition import load_routine
from skill.session.wiring import run_text_session
path = Path(sys.argv[1] if len(sys.argv) > 1 else {path!r})
routine = load_routine("tests/data/short-routine.toml")
state = run_text_session(routine, commands=io.StringIO("start\\nstop\\nstop\\n"), out=io.StringIO(),
                         book=Bookkeeper(routine, History(path), path.with_name("p.json")))
print("ended", state is not None and state.ended)
"""


def test_a_full_disk_never_stops_a_session_and_history_comes_back(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    _history_with_sessions(path, 3)
    code = SESSION_THEN_RECORD.format(path=str(path))
    # the database may not grow by a byte, and its journal cannot be written at all
    full = _run_in_child(code, fsize=1024)
    assert full.returncode == 0, full.stderr
    assert "ended True" in full.stdout and "history is off" in full.stderr
    assert len(History(path).recent()) == 3  # nothing lost, nothing half-written
    fine = _run_in_child(code)
    assert fine.returncode == 0 and "ended True" in fine.stdout, fine.stderr
    assert len(History(path).recent()) == 4  # once there is room again, history works


def test_a_database_locked_for_the_whole_session_never_stops_it(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    _history_with_sessions(path, 1)
    locker = sqlite3.connect(path)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        run = _run_in_child(SESSION_THEN_RECORD.format(path=str(path)))
    finally:
        locker.rollback()
        locker.close()
    assert run.returncode == 0 and "ended True" in run.stdout, run.stderr
    assert "in use by another program" in run.stderr
    assert len(History(path).recent()) == 1 and not list(tmp_path.glob("h.sqlite3.damaged-*"))


# ---- resume after a power cut ----------------------------------------------------------------------------


def test_resume_offers_a_place_saved_in_the_future(tmp_path: Path) -> None:
    """A Pi's clock runs behind after a power cut without network: the saved time lies ahead of it."""
    path = tmp_path / "p.json"
    progress.save("bedtime-lower-back", Position(2, 1, 1), path)
    behind = datetime.now(UTC) - timedelta(days=400)
    saved = progress.load("bedtime-lower-back", path, now=behind)
    assert saved is not None and saved.position == Position(2, 1, 1)


def test_within_one_boot_the_age_comes_from_the_boot_clock(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    progress.save("bedtime-lower-back", Position(1), path)
    record = json.loads(path.read_text())
    place = record["places"]["bedtime-lower-back"]
    place["saved_at"] = (datetime.now(UTC) - timedelta(days=3)).isoformat()  # the wall clock jumped
    path.write_text(json.dumps(record))
    assert progress.load("bedtime-lower-back", path) is not None
    place["boot_seconds"] -= 7 * 3600  # but seven hours of this boot went by
    path.write_text(json.dumps(record))
    assert progress.load("bedtime-lower-back", path) is None


def test_one_place_per_routine(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    progress.save("bedtime-lower-back", Position(3, 1, 2), path)
    progress.save("morning", Position(1), path)
    progress.clear("morning", path)
    saved = progress.load("bedtime-lower-back", path)
    assert saved is not None and saved.position == Position(3, 1, 2)
    assert progress.load("morning", path) is None


@pytest.mark.parametrize("record", [
    {"routine": "bedtime-lower-back", "stretch": 1, "side": 0, "repetition": 1, "saved_at": "2026-12-01T01:00:00"},
    {"routine": "bedtime-lower-back", "stretch": 1, "side": 0, "repetition": 1,
     "saved_at": "2026-12-01T01:00:00+00:00"},
])
def test_the_first_format_and_a_time_without_zone_still_resume(tmp_path: Path, record: dict[str, object]) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(record))
    saved = progress.load("bedtime-lower-back", path, now=datetime(2026, 12, 1, 2, tzinfo=UTC))
    assert saved is not None and saved.position == Position(1)


@pytest.mark.parametrize("text", ['{"routine": "bedtime-lower-back", "stretch": 1e400, "saved_at": "2026-12-01"}',
                                  '{"routine": "bedtime-lower-back", "stretch": -1, "saved_at": "2026-12-01"}',
                                  '{"routine": "bedtime-lower-back", "stretch": true, "saved_at": "2026-12-01"}',
                                  '{"routine": "bedtime-lower-back", "stretch": 1.5, "saved_at": "2026-12-01"}',
                                  '{"routine": "bedtime-lower-back", "stretch": 1, "saved_at": 7}',
                                  '{"places": {"bedtime-lower-back": []}}'])
def test_bad_saved_numbers_are_dropped_not_raised(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(text)
    assert progress.load("bedtime-lower-back", path) is None


def test_an_unreadable_progress_file_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(b"\x00\xff{")
    assert progress.load("bedtime-lower-back", path) is None
    assert [p.read_bytes() for p in tmp_path.glob("p.json.damaged-*")] == [b"\x00\xff{"]
    progress.save("bedtime-lower-back", Position(1), path)
    assert progress.load("bedtime-lower-back", path) is not None


def test_continue_picks_up_at_the_saved_side_and_round() -> None:
    routine = load_routine()
    two_sided = next(i for i, s in enumerate(routine.stretches) if len(s.sides) == 2)
    events = simulate(routine, [(1.0, "continue")], offer=Position(two_sided, 1, 1))
    first = next(e for e in events if e.event == "stretch")
    assert first.data["index"] == two_sided + 1 and first.data["side"] == routine.stretches[two_sided].sides[1].side


def test_doctor_reports_damage_without_touching_the_file(tmp_path: Path) -> None:
    from skill.records import history

    path = tmp_path / "h.sqlite3"
    assert history.diagnose(path)[0].detail.startswith("none yet")
    path.write_bytes(b"not sqlite" * 50)
    (health,) = history.diagnose(path)
    assert not health.ok and "damaged" in health.detail and "moves it aside" in health.fix
    assert path.read_bytes() == b"not sqlite" * 50
    History(path).start_session("r", 1.0)
    found = history.diagnose(path)
    assert found[0].ok and found[0].detail.startswith("1 sessions") and "damaged copies" in found[1].detail


def test_history_with_a_huge_count_lists_what_there_is(capsys: pytest.CaptureFixture[str]) -> None:
    """`history -n 99999999999999999999` overflowed SQLite's integer."""
    h = History()
    h.finish_session(h.start_session("bedtime-lower-back", 1.0), True, 8, 1.0)
    h.close()
    assert main(["history", "-n", "99999999999999999999"]) == 0
    assert "bedtime-lower-back" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        main(["history", "-n", "-5"])
    assert refused.value.code == 2
