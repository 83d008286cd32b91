"""The engine in a child process (the live session's): same answers, no stalls for the audio threads,
and a dead child is replaced instead of ending the session."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from skill.audio import read_wav
from skill.errors import UserError
from skill.hearing.padding import as_utterance
from skill.hearing.recognizer import open_engine
from skill.hearing.recognizer_worker import EngineProcess
from tests.asr_set import build, set_dir


@pytest.fixture(scope="module")
def worker() -> Iterator[EngineProcess]:
    w = EngineProcess("pocketsphinx", quiet=True)
    yield w
    w.close()


def utterances(n: int = 6) -> list[np.ndarray]:
    picked = [c for c in build() if c.voice == "piper-joe" and c.noise == "clean"][:n]
    return [as_utterance(*read_wav(set_dir() / c.path)) for c in picked]


def test_the_child_answers_as_the_engine_itself_would(worker: EngineProcess) -> None:
    local = open_engine("pocketsphinx", quiet=True)
    for audio in utterances():
        assert worker.decode(audio) == local.decode(audio)


def test_decoding_in_the_child_leaves_other_threads_running(worker: EngineProcess) -> None:
    """In-process, one pocketsphinx decode holds the GIL for 50-100 ms: longer than the speaker's buffer."""
    gaps: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = threading.Thread(target=tick)
    ticker.start()
    noise = np.random.default_rng(0).normal(0, 0.1, 3 * 16000).astype(np.float32)
    for _ in range(3):
        worker.decode(noise)
    stop.set()
    ticker.join()
    assert max(gaps) < 0.03


def test_a_dead_child_is_replaced(worker: EngineProcess) -> None:
    audio = utterances(1)[0]
    expected = worker.decode(audio)
    worker._proc.kill()
    worker._proc.wait()
    lost = worker.decode(audio)
    assert lost.intent is None and lost.reason == "recognizer restarted"
    again = worker.decode(audio)  # (a fresh decoder: its noise estimate starts anew, so confidences differ)
    assert (again.intent, again.text) == (expected.intent, expected.text) and again.intent is not None


def test_without_a_child_it_recognizes_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from skill.hearing import recognizer_worker as asr_worker

    monkeypatch.setattr(asr_worker.sys, "executable", "/nonexistent/python")
    engine = asr_worker.open_engine_process("pocketsphinx")
    assert not isinstance(engine, EngineProcess)
    assert engine.decode(utterances(1)[0]).intent is not None


def test_a_bad_engine_name_is_the_parents_error() -> None:
    with pytest.raises(UserError, match="--engine"):
        EngineProcess("sphinx3")
