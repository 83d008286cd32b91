"""How long each phrase takes on the simulated clock: the cached phrase's own length where the phrase cache
has it (what `render` and a live session play), else the estimate from its letters."""

from __future__ import annotations

import logging

from skill.errors import UserError
from skill.routine.script import estimate_speech_seconds
from skill.speaking.voice import PhraseCache, Voice, rate_for_tempo

log = logging.getLogger(__name__)


class PhraseTiming:
    """A `speech_seconds` for `simulate` that never loads the voice: it only reads WAV headers."""

    def __init__(self, cache: PhraseCache | None):
        self._cache = cache
        self.measured = 0
        self.estimated = 0

    @classmethod
    def for_default_voice(cls) -> PhraseTiming:
        try:
            return cls(PhraseCache(Voice()))
        except UserError as err:  # no voice installed: estimates only
            log.info("timing phrases by estimate: %s", err)
            return cls(None)

    def __call__(self, text: str, tempo: float) -> float:
        rate = rate_for_tempo(tempo)
        if self._cache is not None and self._cache.has(text, rate):
            self.measured += 1
            return self._cache.seconds(text, rate)
        self.estimated += 1
        return estimate_speech_seconds(text, tempo)

    def describe(self) -> str:
        total = self.measured + self.estimated
        if not total or not self.measured:
            return "phrase lengths estimated (run `bedtime-stretch prepare` to time them by the voice)"
        if not self.estimated:
            return "phrase lengths from the voice's prepared phrases"
        return f"phrase lengths from the voice for {self.measured} of {total} lines, the rest estimated"
