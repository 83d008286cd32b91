"""The microphone: a sounddevice input stream at the device's own rate, handed on as 16 kHz mono chunks.

The PortAudio callback only copies the block into a queue; resampling and everything else happens on
the consumer's thread. Overflows are counted and logged, never fatal.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import soxr

from skill.audio import ASR_RATE, AudioChunk
from skill.devices import Device, NoDevice, find_input_device, sounddevice
from skill.stage_clock import stage

log = logging.getLogger(__name__)

BLOCK_SECONDS = 0.04
"""Audio per callback. Each block wakes PortAudio, the ALSA plugin and the listener: at 40 ms rather than 20
the session took 5.6-6.3 % of a core instead of 6.9-7.7 (bench_session --echo --profile, interleaved runs,
stop 34). Stop 33 went back to 20 ms after 2 of 16 runs at 40 ms lost commands under CPU quotas. Stop 34
found one cause, not the block size (the stream placed anew after the listener skipped audio to catch up,
see Listener.feed), and under a 10 % quota a run at 20 ms lost the echo just as one at 40 did (3/13 heard
each, the speaker starved). At 40 ms the live barge-in tests passed 11 of 12 times."""
QUEUE_SECONDS = 10.0
"""Audio held for the listener at most: more is dropped and counted as overflows."""
IDLE_BLOCK_SECONDS = 0.1
"""Audio per callback while idly listening for the wake phrase: nothing is cancelled then, and a wake-up of
PortAudio, the ALSA plugin and Python every 20 ms was most of idle listening's CPU (3.4 % of a core here)."""
STOP_POLL_SECONDS = 0.1
"""How soon a waiting `chunks` sees `stop` when no audio comes (a stream still starting, a stall)."""


class Microphone:
    """Context manager; iterate `chunks()` for 16 kHz AudioChunks (with their monotonic capture time)."""

    def __init__(self, device: str | int | None = None, block_seconds: float = BLOCK_SECONDS):
        self._sd = sounddevice()
        self._block_seconds = block_seconds
        self._queue_blocks = round(QUEUE_SECONDS / block_seconds)
        self.device: Device = find_input_device(device)
        self.rate = self.device.rate
        self._queue: queue.SimpleQueue[tuple[np.ndarray, float] | None] = queue.SimpleQueue()
        """A SimpleQueue: its put and get are C, with no Python lock and condition around them, and the
        callback and the listener go through it every block."""
        self.overflows = 0
        self.lost = False
        self._closing = False
        self._stream: Any = None
        self._frames = 0

    def __enter__(self) -> Microphone:
        sd = self._sd
        try:
            self._stream = sd.InputStream(samplerate=self.rate, device=self.device.index, channels=1,
                                          dtype="float32", blocksize=int(self.rate * self._block_seconds),
                                          callback=self._callback, finished_callback=self._finished)
            self._offset = time.monotonic() - self._stream.time
            self._stream.start()
        except sd.PortAudioError as err:
            raise NoDevice(f"cannot open the microphone {self.device.name!r}: {err}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing = True
        if self._stream is not None:
            try:
                self._stream.abort()
                self._stream.close()
            except self._sd.PortAudioError as err:
                log.info("closing the microphone: %s", err)
        self._queue.put(None)

    def _callback(self, indata: np.ndarray, frames: int, timing: Any, status: Any) -> None:
        if status.input_overflow:
            self.overflows += 1
        if self._queue.qsize() >= self._queue_blocks:
            self.overflows += 1
        else:
            self._queue.put_nowait((indata[:, 0].copy(), timing.inputBufferAdcTime + self._offset))

    def _finished(self) -> None:
        if not self._closing:
            self.lost = True
            log.warning("the microphone stream stopped")
            self._queue.put(None)

    def chunks(self, timeout: float | None = None, stop: threading.Event | None = None) -> Iterator[AudioChunk]:
        """16 kHz mono chunks, each with the monotonic time of its first sample, until the mic is closed, no
        block came for `timeout` seconds, or `stop` is set (seen within STOP_POLL_SECONDS even with no audio)."""
        reported = 0
        # a streaming resampler: block-by-block one-shot resampling would click at every block edge
        resampler = soxr.ResampleStream(self.rate, ASR_RATE, 1, dtype="float32") if self.rate != ASR_RATE else None
        while True:
            item = self._next_block(timeout, stop)
            if item is None:
                return
            block, captured_at = item
            if self.overflows > reported:
                log.info("microphone overflow (%d so far): a little audio was lost", self.overflows)
                reported = self.overflows
            with stage("microphone resampling"):
                samples = resampler.resample_chunk(block) if resampler is not None else block
                chunk = AudioChunk.from_samples(samples, ASR_RATE, timestamp=self._frames / self.rate,
                                                captured_at=captured_at)
            self._frames += len(block)
            yield chunk

    def _next_block(self, timeout: float | None, stop: threading.Event | None) -> tuple[np.ndarray, float] | None:
        """The next queued block; None at the end of the stream, after `timeout` with none, or once `stop` is set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while stop is None or not stop.is_set():
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if stop is not None:
                wait = STOP_POLL_SECONDS if wait is None else min(wait, STOP_POLL_SECONDS)
            try:
                return self._queue.get(timeout=wait)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    return None
        return None
