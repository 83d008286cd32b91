"""Not obeying its own voice: what the speaker was saying when a command was heard, and whether to trust it.

The echo canceller removes most of the guide's voice from the mic; this is the second line. While the
guide talks (and for a short tail after), any command is taken, but not when its words are in the
sentence being played: the guide says "next", "repeat", "slowly", "pause" and "stop" in its own prompts
("...pause, or stop at any time"), and what is left of its echo would otherwise be obeyed.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from skill.hearing.commands import Intent

TAIL_SECONDS = 0.6
"""After the guide stops talking: the echo's tail in the room and the recognizer's endpointing delay."""
MAX_UTTERANCE_SECONDS = 2.5


@dataclass
class _Utterance:
    seq: int
    text: str
    start: float | None = None
    end: float | None = None


def _stem(word: str) -> str:
    word = word.lower().strip("'")
    for suffix in ("ping", "ing", "ed", "es", "ly", "s", "er"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-zA-Z']+", text)}


class PlaybackTracker:
    """When each utterance handed to the speaker was playing, from hand-offs and done reports."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, keep_seconds: float = 30.0):
        self._clock = clock
        self._keep = keep_seconds
        self._items: list[_Utterance] = []
        self._lock = threading.Lock()

    def handed(self, seq: int, text: str) -> None:
        now = self._clock()
        with self._lock:
            busy = any(u.end is None for u in self._items)
            self._items.append(_Utterance(seq, text, None if busy else now))
            self._items = [u for u in self._items if u.end is None or now - u.end < self._keep]

    def done(self, seq: int) -> None:
        """The speaker finished (or cut) everything up to `seq`; the next queued utterance starts now."""
        now = self._clock()
        with self._lock:
            for u in self._items:
                if u.seq <= seq and u.end is None:
                    u.start = now if u.start is None else u.start
                    u.end = now
            waiting = [u for u in self._items if u.end is None]
            if waiting and waiting[0].start is None:
                waiting[0].start = now

    def playing_between(self, t0: float, t1: float) -> list[str]:
        """The texts that were playing at any moment in [t0, t1]."""
        with self._lock:
            return [u.text for u in self._items
                    if u.start is not None and u.start <= t1 and (u.end is None or u.end >= t0)]

    def busy(self) -> bool:
        with self._lock:
            return any(u.end is None for u in self._items)


class SelfHearingFilter:
    def __init__(self, tracker: PlaybackTracker, tail: float = TAIL_SECONDS):
        self.tracker = tracker
        self.tail = tail

    def accept(self, intent: Intent | None, words: str, heard_at: float, duration: float = 1.0) -> bool:
        """Whether a command heard (ending at `heard_at`, monotonic) came from the person."""
        if intent is None:
            return False
        span = min(max(duration, 0.3), MAX_UTTERANCE_SECONDS)
        playing = self.tracker.playing_between(heard_at - span - self.tail, heard_at)
        if not playing:
            return True
        heard = _stems(words)
        return not any(heard & _stems(text) for text in playing)
