"""The offer to learn the person's voice: made once, softly, after a session in which commands were missed
or said again, and never to someone who has enrolled."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from skill.hearing.commands import Intent
from skill.hearing.personal import personal_model_path

OFFER = ("You can teach me your voice, so that I miss fewer of your words: run `bedtime-stretch enroll` "
         "one evening (two minutes).")
REPEAT_SECONDS = 6.0
"""The same command again this soon: the first was not acted on as the person expected (or not heard)."""
MISSES = 2
"""Misses and repeats in a session before the offer: one is anybody's bad luck."""


def offered_marker() -> Path:
    return personal_model_path().parent / "offered"


class MissTally:
    """Counts, in one session, what a recognizer that knew the voice might have caught: utterances it heard
    a command in but was unsure of, and commands said again within seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._last: tuple[Intent, float] | None = None
        self.missed = 0
        self.repeated = 0

    def heard(self, intent: Intent | None, candidate: Intent | None) -> None:
        now = self._clock()
        if intent is None:
            self.missed += candidate is not None
            return
        if self._last is not None and self._last[0] == intent and now - self._last[1] < REPEAT_SECONDS:
            self.repeated += 1
        self._last = (intent, now)

    def offer(self) -> str | None:
        """The offer, the first time a session earns it (and never once a voice is enrolled)."""
        if self.missed + self.repeated < MISSES or personal_model_path().exists():
            return None
        marker = offered_marker()
        if marker.exists():
            return None
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("offered\n")
        except OSError:
            return None  # (offering again next time is better than failing to end a session)
        return OFFER
