"""A first session's phrases come from a child process while it speaks: the real Piper voice, a real child."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from skill.routine.definition import load_routine_file
from skill.routine.script import spoken_texts
from skill.speaking import preparing
from skill.speaking.background import serve_requests
from skill.speaking.preparing import preparing_in_background

TINY = ('name = "One"\nintro = ["Hello there.", "Lie down."]\noutro = ["Bye now."]\n[[stretches]]\nname = "Hug"\n'
        'start = "Lie on your back."\nsteps = ["Hug your knees."]\nhold = { kind = "count", amount = 2 }\n')


@pytest.fixture
def routine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "one.toml"
    path.write_text(TINY)
    return path


def _stored(tmp_path: Path) -> int:
    return sum(1 for _ in (tmp_path / "cache").rglob("*.wav"))


def test_the_child_makes_an_asked_phrase_next_and_goes_on_from_it() -> None:
    read, write = os.pipe()
    made: list[str] = []
    with os.fdopen(read, encoding="utf-8") as requests, os.fdopen(write, "w", encoding="utf-8") as asking:
        def make(text: str) -> None:
            if text == "a":
                asking.write('"d"\n')
                asking.flush()
                time.sleep(0.2)  # the listening thread reads it

        count = serve_requests(list("abcdef"), made.append, make, requests)
    assert made == list("adefbc")
    assert count == 6


def test_the_child_stops_when_the_session_closes_its_requests() -> None:
    read, write = os.pipe()
    made: list[str] = []
    with os.fdopen(read, encoding="utf-8") as requests:
        asking = os.fdopen(write, "w", encoding="utf-8")

        def make(text: str) -> None:
            if text == "b":
                asking.close()
                time.sleep(0.2)

        serve_requests(list("abcdef"), made.append, make, requests)
    assert made == ["a", "b"]


def test_a_first_session_starts_with_its_first_phrase_and_never_loads_the_voice(routine: Path, tmp_path: Path) -> None:
    texts = spoken_texts(load_routine_file(routine))
    started = time.monotonic()
    with preparing_in_background(str(routine), None) as cache:
        waited = time.monotonic() - started
        maker = cache.maker
        assert maker is not None
        assert cache.has(texts[0], "calm")
        assert maker.remaining > len(texts) // 2, "it waited for more than the first phrases"
        # the last of them, asked for out of turn: made next by the child, not by loading the voice here
        asked = time.monotonic()
        samples, rate = cache.get(texts[-1])
        assert len(samples) > 0.3 * rate
        assert time.monotonic() - asked < 10
        assert maker.remaining > 0, "the asked-for phrase did not jump the queue"
        assert maker.wait_until_made(len(texts), timeout=120)
    assert all(cache.has(t, "calm") for t in texts)
    assert not cache.voice.loaded
    assert cache.maker is None
    print(f"first phrase after {waited:.1f} s")


def test_a_session_ended_early_keeps_what_was_made_for_the_next(routine: Path, tmp_path: Path) -> None:
    texts = spoken_texts(load_routine_file(routine))
    with preparing_in_background(str(routine), None) as cache:
        maker = cache.maker
        assert maker is not None
        cache.get(texts[1])
    closed = time.monotonic()
    assert maker._proc.poll() is not None, "the child outlived the session"
    first = _stored(tmp_path)
    assert 2 <= first < len(texts)
    with preparing_in_background(str(routine), None) as cache:
        assert cache.maker is not None
        assert cache.maker.total == len(texts) - first
    assert time.monotonic() - closed < 30


def test_a_child_that_cannot_start_leaves_the_preparation_to_the_session(
        routine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preparing, "_child_args", lambda *args: [sys.executable, "-c", "raise SystemExit(3)"])
    few = ["Hello there.", "Lie down."]
    monkeypatch.setattr(preparing, "spoken_texts", lambda routine: few)
    with preparing_in_background(str(routine), None) as cache:
        assert cache.maker is None
        assert all(cache.has(t, "calm") for t in few)
        assert cache.voice.loaded


def test_a_child_that_dies_mid_session_leaves_the_session_speaking(routine: Path, tmp_path: Path) -> None:
    texts = spoken_texts(load_routine_file(routine))
    with preparing_in_background(str(routine), None) as cache:
        maker = cache.maker
        assert maker is not None
        maker._proc.kill()
        done = threading.Event()
        threading.Thread(target=lambda: (maker.wait_until_made(len(texts), timeout=10), done.set())).start()
        assert done.wait(10) and maker.ended
        missing = next(t for t in reversed(texts) if not cache.has(t, "calm"))
        samples, rate = cache.get(missing)
        assert len(samples) > 0.2 * rate
        assert cache.voice.loaded  # made here, since nobody else would
