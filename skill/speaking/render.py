"""A whole guided session as one WAV file: `simulate` with the real phrase durations, then each phrase
placed at the moment the simulated speaker starts it. Same controller, same pacer, same timeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skill.audio import SoftNoise, chime, fade, write_wav
from skill.session.effects import CHIME_SECONDS
from skill.session.loop import LogEvent, simulate
from skill.routine.definition import Routine
from skill.speaking.voice import PhraseCache, rate_for_tempo

END_SECONDS = 3.0
"""Quiet after the last word ("Sleep tight."), faded, so the file does not end abruptly."""


def render(routine: Routine, cache: PhraseCache, out: Path, tempo: float = 1.0,
           noise: bool = False) -> tuple[float, list[LogEvent]]:
    """Write the session to `out`; returns its duration (seconds) and the timeline it follows."""
    events = simulate(routine, speech_seconds=lambda text, t: cache.seconds(text, rate_for_tempo(t)), tempo=tempo)
    rate = cache.get(routine.intro[0], rate_for_tempo(tempo))[1]
    sounds: list[tuple[float, np.ndarray]] = []
    end = 0.0
    bell = chime(rate, CHIME_SECONDS)
    for e in events:
        if e.event == "say":
            samples, sr = cache.get(e.data["text"], rate_for_tempo(e.data["tempo"]))
            if sr != rate:
                raise ValueError(f"phrase rate {sr} differs from {rate}")
        elif e.event == "chime":
            samples = bell
        else:
            continue
        sounds.append((e.t, samples))
        end = max(end, e.t + len(samples) / rate)
    total = round((end + END_SECONDS) * rate)
    mix = np.zeros(total, np.float32)
    for t, samples in sounds:
        start = round(t * rate)
        mix[start: start + len(samples)] += samples[: total - start]
    if noise:
        mix += SoftNoise(rate, seed=0).next(total)
    mix = fade(mix, rate, 0.5, END_SECONDS)
    np.clip(mix, -0.98, 0.98, out=mix)
    write_wav(out, mix, rate)
    return total / rate, events
