"""Whether an output stream plays at real time: gaps in the voice, and storms of callbacks racing ahead.

Fed the time of each audio callback and the underflows PortAudio reports; asked once a second by the
speaker's watcher what to do. Pure: no device, no thread of its own.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from enum import Enum

RACING_STRIKES = 2
"""Seconds running with more than twice the callbacks real time asks for: the stream races ahead."""
STARVED_UNDERRUNS = 3
STARVED_WINDOW_SECONDS = 10
STARVED_LATENCY_SECONDS = 0.2
"""This many gaps in the voice within the window, and the stream is reopened with twice the buffering, up to
this much: a "pause" is then heard up to that much later, but the voice no longer breaks up (under a 10 %
CPU quota here: 232 gaps in 200 s at 60 ms of buffering, 19 with this). Not more: at 400 ms the echo came
later than the listener looks for it (MAX_LAG_SECONDS) and the canceller never found it."""
RACING_LATENCY_MAX = 0.2
STARVED_NEAR_MISSES = 3
NEAR_MISS_SHARE = 0.8
"""A callback later than this share of the buffered audio lasts came close to a gap: this many within the
window, and the stream gets more buffering before the voice breaks up. Under a 25 % CPU quota here, at 40 ms
buffered, callbacks came 48-60 ms apart in the first seconds, before the gaps (70-140 ms); on a free CPU
they come 20 ms apart, 24 ms at p99 and never over 41 ms (405 callbacks of the cut and barge-in tests)."""


class Verdict(Enum):
    FINE = "fine"
    RACING = "racing"
    """Reopen it, with more buffering."""
    STARVED = "starved"
    """Reopen it with twice the buffering (the CPU is too short to run the callback in time)."""


class StreamHealth:
    def __init__(self, block_seconds: float):
        self.block_seconds = block_seconds
        self.callbacks = 0
        self.underflows = 0
        """Underflows PortAudio reported, start-up storms included."""
        self.underruns = 0
        """Gaps in the voice once the stream played at real time: an underflow PortAudio reported, or a
        callback that came later than the buffered audio lasts (the ALSA pulse plugin plays silence then
        without reporting anything). The start-up storms the speaker rides out are not counted."""
        self.voice_gaps = 0
        """The underruns that fell while the guide's voice (or a chime) was playing: the ones heard. A gap
        in silence is silence a little longer."""
        self.near_misses = 0
        """Callbacks that came in time, but later than NEAR_MISS_SHARE of the buffered audio lasts."""
        self._flowing = False
        self._last_call = 0.0
        self._starved_after = 1.0
        self._strikes = 0
        self._seen_calls = 0
        self._seen_underruns = 0
        self._seen_near_misses = 0
        self._recent: collections.deque[tuple[int, int]] = collections.deque(maxlen=STARVED_WINDOW_SECONDS)
        """(gaps, near misses) in each of the last seconds."""
        self.on_gap: Callable[[float, float], None] | None = None
        """Told (from, to), monotonic, of each underrun: the stretch in which the device had nothing new
        to play (on the audio callback's thread: it must be quick)."""

    def callback(self, now: float, underflow: bool, sounding: bool = True) -> None:
        """An audio callback at monotonic `now`, with PortAudio's underflow flag; `sounding`: whether the
        audio handed over last (the audio a gap would cut) had sound in it."""
        self.callbacks += 1
        since = now - self._last_call if self._flowing and self._last_call > 0 else 0.0
        self._last_call = now
        if underflow:
            self.underflows += 1
        if self._flowing and (underflow or since > self._starved_after):
            self.underruns += 1
            self.voice_gaps += sounding
            if self.on_gap is not None:
                self.on_gap(now - max(since, self._starved_after), now)
        elif since > NEAR_MISS_SHARE * self._starved_after:
            self.near_misses += 1

    def flowing(self, latency: float) -> None:
        """The stream (re)opened and plays at real time with `latency` s buffered: gaps count from now."""
        # callbacks come every block (20.0 ms at p50, 21.7 at p99 here); one that comes after the buffered
        # audio ran out means a gap was heard
        self._starved_after = latency + self.block_seconds
        self._last_call = 0.0
        self._flowing = True
        self._seen_calls, self._seen_underruns = self.callbacks, self.underruns
        self._seen_near_misses = self.near_misses

    def stopped(self) -> None:
        self._flowing = False

    def storming(self, calls_before: int, underflows_before: int, seconds: float) -> bool:
        """Whether, since the counts were `calls_before` and `underflows_before` `seconds` ago, the stream
        raced ahead of real time (a start-up storm)."""
        expected = seconds / self.block_seconds
        return self.callbacks - calls_before > 2 * expected or self.underflows - underflows_before > 3

    def second_passed(self, latency: float) -> Verdict:
        """A second since the last look: what to do about the stream buffered `latency` s."""
        calls, self._seen_calls = self.callbacks - self._seen_calls, self.callbacks
        self._recent.append((self.underruns - self._seen_underruns, self.near_misses - self._seen_near_misses))
        self._seen_underruns, self._seen_near_misses = self.underruns, self.near_misses
        self._strikes = self._strikes + 1 if calls > 2.0 / self.block_seconds else 0
        if self._strikes >= RACING_STRIKES:
            self._strikes = 0
            return Verdict.RACING
        gaps, near, _ = self.recent_gaps()
        if (gaps >= STARVED_UNDERRUNS or near >= STARVED_NEAR_MISSES) and latency < STARVED_LATENCY_SECONDS:
            return Verdict.STARVED
        return Verdict.FINE

    def recent_gaps(self) -> tuple[int, int, int]:
        """(gaps, near misses, seconds) in the starved window."""
        return sum(g for g, _ in self._recent), sum(n for _, n in self._recent), len(self._recent)

    def forget_gaps(self) -> None:
        self._recent.clear()
