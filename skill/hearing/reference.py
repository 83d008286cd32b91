"""What the speaker played, on the monotonic clock, at 16 kHz: the echo canceller's reference."""

from __future__ import annotations

import collections
import threading

import numpy as np

from skill.audio import ASR_RATE
from skill.hearing.drift import INTERPOLATION_HALF_WIDTH, read_between

REANCHOR_SECONDS = 0.2
"""The speaker and the microphone are continuous streams whose per-block timestamps jitter by tens of ms
(PulseAudio's ALSA plugin) and drift apart slowly: the echo delay tracker follows the drift. Only a jump
this large (a stream restarted, a real gap) moves a stream's place on the clock."""


class ReferenceBuffer:
    """What the speaker played, at 16 kHz, on the monotonic clock: the echo canceller's reference."""

    def __init__(self, seconds: float = 20.0):
        self._size = int(seconds * ASR_RATE)
        self._ring = np.zeros(self._size, dtype=np.float32)
        self._origin: float | None = None  # monotonic time of sample index 0
        self._written = 0  # samples written since origin
        self._last_sound = -1e9
        self._lock = threading.Lock()
        self._gaps: collections.deque[tuple[float, float]] = collections.deque(maxlen=64)
        """(from, to) monotonic: when the speaker ran dry (`mark_gap`)."""

    def write(self, samples: np.ndarray, at: float) -> None:
        """`samples` (16 kHz mono) started playing at monotonic time `at`."""
        with self._lock:
            if self._origin is None:
                self._origin = at
            index = round((at - self._origin) * ASR_RATE)
            # Blocks arrive back to back. Keep the signal continuous (following each block's jittery
            # timestamp would garble the canceller's reference) and only re-anchor on the clock when it is
            # really elsewhere (a restarted stream).
            if abs(index - self._written) < int(REANCHOR_SECONDS * ASR_RATE) or index < self._written:
                index = self._written
            n = len(samples)
            if index > self._written:  # a gap: silence there, so stale audio is never read back
                lo = max(self._written, index - self._size)
                self._put(lo, np.zeros(index - lo, np.float32))
            keep = min(n, self._size)
            self._put(index + n - keep, samples[n - keep:])
            self._written = max(self._written, index + n)
            if n and max(float(samples.max()), -float(samples.min())) > 1e-3:
                self._last_sound = at + len(samples) / ASR_RATE

    def _put(self, index: int, samples: np.ndarray) -> None:
        """`samples` (at most the ring's size) into the ring from absolute sample `index` on, wrapping."""
        at = index % self._size
        first = min(len(samples), self._size - at)
        self._ring[at: at + first] = samples[:first]
        self._ring[: len(samples) - first] = samples[first:]

    def _get(self, lo: int, hi: int, out: np.ndarray) -> None:
        """Absolute samples [lo, hi) (within the ring's span) into `out`, unwrapping."""
        at = lo % self._size
        first = min(hi - lo, self._size - at)
        out[:first] = self._ring[at: at + first]
        out[first: hi - lo] = self._ring[: hi - lo - first]

    def read(self, at: float, n: int) -> np.ndarray:
        """`n` samples played from monotonic time `at` on (silence where nothing was)."""
        with self._lock:
            out = np.zeros(n, dtype=np.float32)
            if self._origin is None:
                return out
            index = round((at - self._origin) * ASR_RATE)
            lo, hi = max(index, self._written - self._size, 0), min(index + n, self._written)
            if hi > lo:
                self._get(lo, hi, out[lo - index: hi - index])
            return out

    def read_at(self, times: np.ndarray) -> np.ndarray:
        """What was played at each of the increasing monotonic `times`, between samples too."""
        with self._lock:
            origin = self._origin
        if origin is None:
            return np.zeros(len(times), dtype=np.float32)
        positions = (times - origin) * ASR_RATE
        first = int(np.floor(positions[0])) - INTERPOLATION_HALF_WIDTH - 1
        raw = self.read(origin + first / ASR_RATE, int(np.ceil(positions[-1])) - first + INTERPOLATION_HALF_WIDTH + 2)
        return read_between(raw, positions - first)

    def written_until(self) -> float | None:
        """The monotonic time at which what has been written so far ends (None: nothing yet)."""
        with self._lock:
            return None if self._origin is None else self._origin + self._written / ASR_RATE

    def sounded_since(self, t: float) -> bool:
        return self._last_sound >= t

    def mark_gap(self, start: float, end: float) -> None:
        """The speaker ran dry between monotonic `start` and `end`: what came out then is not what this
        buffer holds. A device that runs dry may play its stale buffer again (ALSA's ring buffer does, and
        under a 10 % CPU quota the virtual devices played half a word the guide had said again)."""
        self._gaps.append((start, end))  # (no lock: this runs in the audio callback; a deque's append is atomic)

    def gap_between(self, t0: float, t1: float) -> bool:
        """Whether the speaker ran dry at any time between `t0` and `t1`."""
        return any(start < t1 and end > t0 for start, end in tuple(self._gaps))
