"""The profile's CPU by thread: what `bench_session.py --profile` splits "other" with."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from skill import stage_clock

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _burn(seconds: float, burnt: threading.Event, done: threading.Event) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    burnt.set()
    done.wait()


def test_a_busy_thread_is_named_with_its_cpu_and_an_idle_one_adds_none() -> None:
    before = stage_clock.thread_cpu_seconds()
    burnt, done = threading.Event(), threading.Event()
    busy = threading.Thread(target=_burn, args=(0.3, burnt, done), name="busy-for-the-test")
    idle = threading.Thread(target=done.wait, name="idle-for-the-test")
    busy.start()
    idle.start()
    assert burnt.wait(timeout=10)
    spent = stage_clock.thread_cpu_since(before)
    done.set()
    busy.join()
    idle.join()
    assert 0.25 <= spent["busy-for-the-test"] <= 1.0
    assert spent["idle-for-the-test"] < 0.05
    assert "MainThread" in spent
