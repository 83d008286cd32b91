"""The command line for sessions: simulate, show, run --text."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skill.cli import main
from skill.session.state import STOP_ANSWER_SECONDS, STOP_GRACE_SECONDS


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_simulate_writes_json_lines_with_commands_heard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "events.jsonl"
    assert main(["simulate", "--command", "100:slower", "--command", "130:blah blah", "--events", str(out)]) == 0
    assert "completed" in capsys.readouterr().out
    events = read_events(out)
    assert all(isinstance(e["t"], float | int) and isinstance(e["event"], str) for e in events)
    commands = [e for e in events if e["event"] == "command"]
    assert commands == [{"t": 100.0, "event": "command", "intent": "slower", "text": "slower"},
                        {"t": 130.0, "event": "command", "intent": "none", "text": "blah blah"}]
    assert events[-1]["event"] == "end" and events[-1]["completed"] is True
    assert {e["event"] for e in events} >= {"say", "stretch", "cue", "command", "state", "end"}


def test_simulate_events_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--command", "60:stop", "--events", "-"]) == 0
    lines = capsys.readouterr().out.splitlines()
    last = json.loads(lines[-1])
    # "stop" goes silent at once and ends once its few seconds to take it back have passed
    # (the prompt's length comes from the voice where its phrase is prepared, else from its letters)
    assert last["event"] == "end" and last["completed"] is False
    assert 60 + STOP_GRACE_SECONDS - 1e-3 <= last["t"] <= 60 + 5 + STOP_ANSWER_SECONDS


@pytest.mark.parametrize("bad", ["slower", "x:slower", "-3:next", "12:"])
def test_simulate_rejects_a_malformed_command_option(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", f"--command={bad}"]) == 2
    err = capsys.readouterr().err
    assert "--command" in err and "SECONDS:PHRASE" in err and err.count("\n") == 1


def test_simulate_rejects_a_tempo_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--tempo", "5"]) == 2
    assert "--tempo 5.0: must be between 0.5 and 2.0" in capsys.readouterr().err


def test_show_prints_the_script_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show"]) == 0
    out = capsys.readouterr().out
    for a, b in [("Welcome to your bedtime stretches.", "[1. Knee hugs, right side]"),
                 ("[1. Knee hugs, right side]", "[2. Thread the needle, right side]"),
                 ("[7. Pigeon, left side]", "[8. Spinal twist, right side]"),
                 ("[8. Spinal twist, left side]", "Sleep tight.")]:
        assert out.index(a) < out.index(b)
    assert "[3. Gentle bridge, round 3]" in out


def test_run_text_speaks_and_obeys_typed_commands(tmp_path: Path) -> None:
    events_file = tmp_path / "run.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "skill", "run", "--text", "--events", str(events_file)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    time.sleep(1.0)
    proc.stdin.write("start\n")
    proc.stdin.flush()
    time.sleep(1.0)
    proc.stdin.write("stop\n")
    proc.stdin.flush()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Welcome to your bedtime stretches." in out
    assert "Let's begin." in out
    assert "Okay, stopping here. Sleep well." in out
    events = read_events(events_file)
    intents = [e["intent"] for e in events if e["event"] == "command"]
    assert intents == ["start", "stop"]
    assert events[-1]["event"] == "end" and events[-1]["completed"] is False
    stretch = next(e for e in events if e["event"] == "stretch")
    assert stretch["id"] == "knee-hugs"


def test_run_text_ends_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "skill", "run", "--text"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    proc.terminate()
    out, err = proc.communicate(timeout=15)
    assert "Traceback" not in err
    assert proc.returncode == 0
    assert "Welcome" in out


SHORT = str(Path(__file__).parent / "data" / "short-routine.toml")


def test_run_text_survives_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    """A stray byte used to kill the input thread: every later command was ignored."""
    events_file = tmp_path / "run.jsonl"
    done = subprocess.run([sys.executable, "-m", "skill", "run", "--text", "--events", str(events_file), SHORT],
                          input=b"start\n\xff\xfe\x80 nonsense\nwhat's next\nstop\nstop\n", capture_output=True,
                          timeout=60)
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
    heard = [e["intent"] for e in read_events(events_file) if e["event"] == "command"]
    assert heard == ["start", "none", "status", "stop", "stop"]


def test_run_text_into_head_ends_at_once_without_a_traceback() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "skill", "run", "--text", SHORT], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"start\n")
    proc.stdin.flush()
    first = [proc.stdout.readline() for _ in range(2)]
    proc.stdout.close()  # what `| head -2` does
    started = time.monotonic()
    proc.wait(timeout=20)
    assert b"Let's begin." in b"".join(first)
    assert time.monotonic() - started < 15  # the session ended on the broken pipe (it used to hang)
    assert proc.returncode == 0
    assert proc.stderr is not None and b"Traceback" not in proc.stderr.read()


def test_run_text_with_stdout_closed_ends_cleanly() -> None:
    done = subprocess.run(["bash", "-c", f'"{sys.executable}" -m skill run --text "{SHORT}" >&-'],
                          stdin=subprocess.PIPE, capture_output=True, timeout=30)
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr


def test_a_second_session_says_so_and_exits_2() -> None:
    first = subprocess.Popen([sys.executable, "-m", "skill", "run", "--text", SHORT], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert first.stdout is not None
        first.stdout.readline()  # it has started
        second = subprocess.run([sys.executable, "-m", "skill", "run", "--text", SHORT], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 2
        assert second.stderr.count("\n") == 1 and "already running" in second.stderr
        assert f"pid {first.pid}" in second.stderr
        from skill.session.lock import holder

        assert holder() == f"pid {first.pid}, run --text"  # what doctor reports
    finally:
        first.terminate()
        first.wait(timeout=15)
    again = subprocess.run([sys.executable, "-m", "skill", "run", "--text", SHORT], input=b"start\nstop\nstop\n",
                           capture_output=True, timeout=30)
    assert again.returncode == 0, again.stderr  # the lock went with the first process
    from skill.session.lock import holder

    assert holder() is None


def test_a_half_written_event_line_is_left_for_the_next_read(tmp_path: Path) -> None:
    """A benchmark or test polling a live session's events file can catch the session mid-write: that read
    must give the whole lines so far, not fail on the half one (it stopped a bench_session run)."""
    from skill.session.loop import read_event_log

    path = tmp_path / "events.jsonl"
    assert read_event_log(path) == []
    path.write_text('{"t": 0.0, "event": "start"}\n{"t": 1.2, "ev', encoding="utf-8")
    assert read_event_log(path) == [{"t": 0.0, "event": "start"}]
    with path.open("a", encoding="utf-8") as f:
        f.write('ent": "said", "text": "Breathe in."}\n')
    assert [e["event"] for e in read_event_log(path)] == ["start", "said"]
