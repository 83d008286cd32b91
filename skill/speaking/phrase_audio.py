"""The audio of each Say and Chime at the speaker's rate, resampled once and kept for the phrases in use."""

from __future__ import annotations

import collections

import numpy as np

from skill.audio import chime, resample
from skill.session.effects import CHIME_SECONDS, Chime, Say
from skill.speaking.voice import PhraseCache, rate_for_tempo

KEPT_PHRASES = 400
"""Resampled phrases kept: the built-in routine speaks about 150 distinct ones at a tempo."""


class PhraseAudio:
    def __init__(self, cache: PhraseCache, rate: int):
        self._cache = cache
        self.rate = rate
        self._chime = chime(rate, CHIME_SECONDS)
        self._resampled: collections.OrderedDict[tuple[str, str], np.ndarray] = collections.OrderedDict()

    def __call__(self, item: Say | Chime) -> np.ndarray:
        if isinstance(item, Chime):
            return self._chime
        key = (item.text, rate_for_tempo(item.tempo))
        samples = self._resampled.get(key)
        if samples is None:
            # not prepared at this tempo: the nearest rate that is
            key = (item.text, self._cache.best_rate(*key))
            samples = self._resampled.get(key)
        if samples is None:
            raw, sr = self._cache.get(*key)
            samples = resample(raw, sr, self.rate)
            self._resampled[key] = samples
            if len(self._resampled) > KEPT_PHRASES:
                self._resampled.popitem(last=False)
        else:
            self._resampled.move_to_end(key)
        return samples
