"""A hold becomes a schedule of cues (counts, breath prompts, countdowns), and the tempo that stretches it.

A cue's `gap` is its distance from the previous cue at tempo 1.0. The controller places each cue at
previous cue time + gap x tempo (its scheduled time, not the time speech ended), so speaking never
makes the cadence drift, and a tempo change applies from the next cue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skill.hearing.commands import Intent
from skill.routine.phrases import Phrases
from skill.routine.definition import Hold

COUNT_SECONDS = {"slow": 1.5, "normal": 1.1}
"""Seconds between counts, at tempo 1.0."""
BREATH_IN_SECONDS = 4.0
BREATH_OUT_SECONDS = 6.0
LEAD_IN_SECONDS = 1.0
"""From the end of the instruction to the first cue: time to settle into the position."""

TEMPO_MIN, TEMPO_MAX = 0.5, 2.0
TEMPO_STEP = {Intent.SLOWER: 1.25, Intent.FASTER: 0.8}


@dataclass(frozen=True)
class Cue:
    gap: float
    """Seconds after the previous cue (or the hold's start) at tempo 1.0."""
    kind: str
    """count | breath | countdown | end (the hold is over; nothing is said)."""
    text: str | None
    log: dict[str, Any] = field(default_factory=dict)
    """The cue as the event log shows it, e.g. {"kind": "count", "n": 3}."""


def change_tempo(tempo: float, intent: Intent) -> float:
    """The tempo after "slower" or "faster", kept within TEMPO_MIN..TEMPO_MAX."""
    changed = tempo * TEMPO_STEP[intent]
    return round(min(TEMPO_MAX, max(TEMPO_MIN, changed)), 4)


def schedule(hold: Hold, phrases: Phrases) -> tuple[Cue, ...]:
    if hold.kind == "count":
        return _counts(int(hold.amount), COUNT_SECONDS[hold.pace], phrases)
    if hold.kind == "breaths":
        return _breaths(int(hold.amount), phrases)
    return _seconds(float(hold.amount), phrases)


def hold_seconds(hold: Hold, tempo: float = 1.0) -> float:
    """How long the hold lasts, from its start to its end, at a steady tempo."""
    return sum(c.gap for c in schedule(hold, Phrases())) * tempo


def _counts(amount: int, interval: float, phrases: Phrases) -> tuple[Cue, ...]:
    cues = [
        Cue(LEAD_IN_SECONDS if n == 1 else interval, "count", phrases.number(n), {"kind": "count", "n": n})
        for n in range(1, amount + 1)
    ]
    return (*cues, Cue(interval, "end", None))


def _breaths(amount: int, phrases: Phrases) -> tuple[Cue, ...]:
    cues: list[Cue] = []
    for n in range(1, amount + 1):
        last = n == amount and amount >= 3
        cues.append(Cue(LEAD_IN_SECONDS if n == 1 else BREATH_OUT_SECONDS, "breath",
                        phrases.say("last_breath" if last else "breathe_in"),
                        {"kind": "breath", "phase": "in", "n": n}))
        cues.append(Cue(BREATH_IN_SECONDS, "breath", phrases.say("breathe_out"),
                        {"kind": "breath", "phase": "out", "n": n}))
    return (*cues, Cue(BREATH_OUT_SECONDS, "end", None))


def _seconds(amount: float, phrases: Phrases) -> tuple[Cue, ...]:
    """Quiet for most of the hold: a gentle "ten more seconds" at each ten left, a soft 3-2-1 at the end."""
    marks: list[tuple[float, Cue]] = []
    remaining = 10 * int(amount // 10)
    while remaining >= 10:
        if amount - remaining >= 5:
            text = phrases.say("seconds_left", words=phrases.number(remaining).lower())
            text = text[:1].upper() + text[1:]
            marks.append((amount - remaining, Cue(0, "countdown", text, {"kind": "countdown", "remaining": remaining})))
        remaining -= 10
    countdown = phrases.lines("countdown")
    for r in range(min(len(countdown), int(amount) - 1), 0, -1):
        marks.append((amount - r, Cue(0, "countdown", countdown[r - 1], {"kind": "countdown", "remaining": r})))
    cues: list[Cue] = []
    last = 0.0
    for at, cue in marks:
        cues.append(Cue(at - last, cue.kind, cue.text, cue.log))
        last = at
    return (*cues, Cue(amount - last, "end", None))
