"""How much of the guide's echo the canceller takes out: the mic's energy over what is left, block by block,
over the session and in spans of it, leaving out what the person said."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

SPANS = ((0.0, 5.0), (5.0, 30.0), (30.0, math.inf))
"""Seconds from the first block cancelled: while the canceller converges, once it has, and the rest."""
KEEP_SECONDS = 8.0
"""Blocks kept for asking about a stretch of time: the person's words are judged within a few seconds of
them (a decode under a 25 % CPU quota keeps the listener 1-2 s behind)."""


@dataclass
class _Block:
    at: float
    heard: float
    left: float
    span: int
    counted: bool = True


class EchoTally:
    """The canceller's blocks: when, the mic's energy and what was left of it.

    The person's voice is not echo, and the canceller rightly leaves it alone: counted in, a command said
    over the guide at its own level made 20-30 dB of echo removed look like 0.5-3 dB (bench_session), the
    same code measuring anything from 0.5 to 2.9 dB from run to run, as the commands fell louder or softer
    against the guide's voice."""

    def __init__(self, block_seconds: float):
        self._recent: deque[_Block] = deque(maxlen=math.ceil(KEEP_SECONDS / block_seconds))
        self._first_at: float | None = None
        self._heard = [0.0] * len(SPANS)
        self._left = [0.0] * len(SPANS)

    def add(self, at: float, heard: float, left: float) -> None:
        """A block cancelled from monotonic `at`: the mic's energy in it, and what was left."""
        if self._first_at is None:
            self._first_at = at
        since = at - self._first_at
        span = next(i for i, (lo, hi) in enumerate(SPANS) if lo <= since < hi)
        self._recent.append(_Block(at, heard, left, span))
        self._heard[span] += heard
        self._left[span] += left

    def person_spoke(self, t0: float, t1: float) -> None:
        """The person talked between monotonic t0 and t1: those blocks are not the guide's echo."""
        for block in self._recent:
            if block.counted and t0 <= block.at <= t1:
                block.counted = False
                self._heard[block.span] -= block.heard
                self._left[block.span] -= block.left

    def removed_db(self) -> float:
        """Over the whole session."""
        return _db(sum(self._heard), sum(self._left))

    def removed_db_by_span(self) -> list[float | None]:
        """In each of SPANS (None: the session never reached it)."""
        return [_db(h, left) if h > 0 else None for h, left in zip(self._heard, self._left, strict=True)]

    def between(self, t0: float, t1: float) -> float:
        """Between monotonic times t0 and t1, the person's words included (0 where nothing was cancelled)."""
        kept = [b for b in self._recent if t0 <= b.at <= t1]
        if not kept:
            return 0.0
        return _db(sum(b.heard for b in kept), sum(b.left for b in kept))


def _db(heard: float, left: float) -> float:
    return float(10 * math.log10((max(heard, 0.0) + 1e-12) / (max(left, 0.0) + 1e-12)))
