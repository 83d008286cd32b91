"""The played audio, handed from the audio callback to the echo canceller's reference on a thread of its
own, a few blocks at a time: the callback must never wait on the canceller's lock or its resampler."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from skill.audio import AudioChunk
from skill.stage_clock import stage

log = logging.getLogger(__name__)

PLAYED_BATCH_SECONDS = 0.04
"""The played audio goes on this much at a time: one wake-up of the thread per two callbacks. The echo
remover waits for a reference that has not come yet (REFERENCE_WAIT_SECONDS)."""
CONTINUES_SECONDS = 0.1
"""A block that starts within this of where the last one ended continues it (see `join_runs`)."""

Played = Callable[[AudioChunk], None]
"""Audio as it reaches the speaker: `captured_at` is the monotonic time its first sample is heard."""


def join_runs(blocks: list[tuple[np.ndarray, float]], rate: int) -> list[tuple[np.ndarray, float]]:
    """Blocks (samples, start time) that follow each other on the clock, joined; a reopened stream starts a
    new run. Their timestamps jitter by tens of ms, which the reference buffer smooths over anyway (it moves
    a block only for a 200 ms jump), so a block within CONTINUES_SECONDS of where the last ended continues it."""
    runs: list[tuple[list[np.ndarray], float, float]] = []
    for samples, at in blocks:
        if runs and abs(at - runs[-1][2]) < CONTINUES_SECONDS:
            runs[-1][0].append(samples)
            runs[-1] = (runs[-1][0], runs[-1][1], at + len(samples) / rate)
        else:
            runs.append(([samples], at, at + len(samples) / rate))
    return [(np.concatenate(parts), at) for parts, at, _ in runs]


class PlayedRelay:
    def __init__(self, on_played: Played, rate: int):
        self._on_played = on_played
        self._rate = rate
        self._blocks: queue.SimpleQueue[tuple[np.ndarray, float] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="speaker-played", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, samples: np.ndarray, at: float) -> None:
        """From the audio callback: `samples` (a copy the callback no longer touches) reach the speaker at `at`."""
        self._blocks.put((samples, at))

    def close(self) -> None:
        self._blocks.put(None)

    def _run(self) -> None:
        while (item := self._blocks.get()) is not None:
            time.sleep(PLAYED_BATCH_SECONDS)
            batch = [item]
            with contextlib.suppress(queue.Empty):
                while (item := self._blocks.get_nowait()) is not None:
                    batch.append(item)
            try:
                with stage("echo reference (resampling, buffering)"):
                    for samples, at in join_runs(batch, self._rate):
                        self._on_played(AudioChunk(self._rate, samples, at, captured_at=at))
            except Exception:
                log.exception("on_played failed")
            if item is None:
                return
