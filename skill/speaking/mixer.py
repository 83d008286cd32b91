"""What the speaker plays next, block by block: the queued sounds, a cut, the volume ramp, the end fade.

Pure and device-free: the audio callback asks `fill` for each block; other threads queue sounds, cut and
change the volume. One lock guards it all, held only for copying samples.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import numpy as np

from skill.audio import SoftNoise
from skill.session.effects import VOLUME_MAX_DB, VOLUME_MIN_DB

CUT_FADE_SECONDS = 0.005
END_FADE_SECONDS = 2.5
CEILING = 0.98
"""A soft ceiling instead of hard clipping, for the loudest setting on the loudest phrase."""


@dataclass
class Sound:
    seq: int
    samples: np.ndarray
    """At the device's rate."""
    generation: int
    """The cut it was queued after: a sound of an older generation is never played."""
    pos: int = 0


class Mixer:
    def __init__(self, rate: int, gain_db: float = 0.0, noise: bool = False):
        self.rate = rate
        self._gain_db = float(np.clip(gain_db, VOLUME_MIN_DB, VOLUME_MAX_DB))
        self._gain_now = 10 ** (self._gain_db / 20)
        self._noise = SoftNoise(rate) if noise else None
        self._sounds: collections.deque[Sound] = collections.deque()
        self._current: Sound | None = None
        self._generation = 0
        self._highest_seq = 0
        self._cut_pending = False
        self._fade_out: int | None = None
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._released = False

    @property
    def has_noise(self) -> bool:
        return self._noise is not None

    def queued(self, seq: int) -> int:
        """Note that `seq` was asked for; the generation it belongs to."""
        with self._lock:
            self._highest_seq = max(self._highest_seq, seq)
            return self._generation

    def stale(self, generation: int) -> bool:
        with self._lock:
            return generation != self._generation

    def add(self, seq: int, samples: np.ndarray, generation: int) -> None:
        """Play `samples` after what is queued, unless a cut came since it was asked for."""
        with self._lock:
            if generation == self._generation:
                self._sounds.append(Sound(seq, samples, generation))

    def cut(self) -> int:
        """Fade out what plays within a block and drop everything queued; the highest sequence number
        asked for so far (0: none), which is done now."""
        with self._lock:
            self._generation += 1
            self._sounds.clear()
            self._cut_pending = True
            return self._highest_seq

    def change_volume(self, step_db: float) -> float:
        with self._lock:
            self._gain_db = float(np.clip(self._gain_db + step_db, VOLUME_MIN_DB, VOLUME_MAX_DB))
            return self._gain_db

    @property
    def gain_db(self) -> float:
        return self._gain_db

    def playing(self) -> bool:
        with self._lock:
            return self._current is not None or bool(self._sounds)

    def wait_until_drained(self, timeout: float) -> bool:
        """Wait (at most `timeout` s) until nothing plays or is queued here; whether it came to that."""
        with self._drained:
            return self._drained.wait_for(
                lambda: self._released or (self._current is None and not self._sounds), timeout)

    def release_waiters(self) -> None:
        """No more blocks will be asked for (the stream is gone): nobody waits for the queue to drain."""
        with self._drained:
            self._released = True
            self._drained.notify_all()

    def fade_out(self, seconds: float) -> None:
        """Fade everything, the room noise too, to silence over `seconds`."""
        with self._lock:
            self._fade_out = int(seconds * self.rate)

    def fill(self, frames: int) -> tuple[np.ndarray, list[int]]:
        """The next `frames` samples, and the sequence numbers of the sounds that finished in them."""
        out = np.zeros(frames, np.float32)
        finished: list[int] = []
        with self._lock:
            cut, self._cut_pending = self._cut_pending, False
            if cut and self._current is not None:
                n = min(frames, int(CUT_FADE_SECONDS * self.rate))
                cur = self._current
                tail = cur.samples[cur.pos: cur.pos + n]
                out[: len(tail)] = tail * np.linspace(1.0, 0.0, len(tail), dtype=np.float32)
                self._current = None
                filled = frames
            else:
                filled = 0
            while filled < frames:
                if self._current is None:
                    if not self._sounds:
                        break
                    self._current = self._sounds.popleft()
                cur = self._current
                take = min(frames - filled, len(cur.samples) - cur.pos)
                out[filled: filled + take] = cur.samples[cur.pos: cur.pos + take]
                cur.pos += take
                filled += take
                if cur.pos >= len(cur.samples):
                    finished.append(cur.seq)
                    self._current = None
            if self._current is None and not self._sounds:
                self._drained.notify_all()
            target = 10 ** (self._gain_db / 20)
            fade_out = self._fade_out
        if target != self._gain_now:
            out *= np.linspace(self._gain_now, target, frames, dtype=np.float32)
            self._gain_now = target
        elif target != 1.0:
            out *= np.float32(target)
        if self._noise is not None:
            out += self._noise.next(frames)
        if fade_out is not None:
            ramp = np.clip((fade_out - np.arange(frames)) / max(1, int(END_FADE_SECONDS * self.rate)), 0, 1)
            out *= ramp.astype(np.float32)
            with self._lock:
                self._fade_out = max(0, fade_out - frames)
        np.clip(out, -CEILING, CEILING, out=out)
        return out, finished
