"""The controller's state: the phase of the session, where it is in the routine, what it waits for,
and an estimate of the time still to come. Frozen values only."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from skill.routine import script
from skill.routine.definition import Routine
from skill.routine.pacer import Cue, hold_seconds
from skill.routine.phrases import Phrases
from skill.routine.script import Line, Position
from skill.session import navigation

AUTO_START_SECONDS = 20.0
"""With no "start", the routine begins by itself after this long (so a session without a mic works)."""
ASK_WAIT_SECONDS = 8.0
"""How long the "go again?" question waits for an answer."""
STOP_GRACE_SECONDS = 8.0
"""After "stop", the guide goes silent and says it is stopping; it ends this long after unless the person
says "no", "resume" or "keep going" (a misheard "stop" must not cost the session)..."""
STOP_ANSWER_SECONDS = 8.0
"""...and never sooner than this after it has said how to take the stop back: a person answers once the
guide has finished, and an answer over its own "keep going" is not taken."""
PAUSE_LIMIT_SECONDS = 20 * 60.0
"""A pause this long ends the session: the person has most likely fallen asleep."""
RESUME_LEAD_SECONDS = 1.5
"""After "resume" in a hold, room for the short reply before the next cue."""
VOLUME_STEP_DB = 3.0


class Phase(StrEnum):
    IDLE = "idle"
    INTRO = "intro"
    WAITING = "waiting"
    INSTRUCT = "instruct"
    HOLD = "hold"
    RELEASE = "release"
    ASK = "ask"
    OUTRO = "outro"
    ENDED = "ended"


SPEAKING = frozenset({Phase.INTRO, Phase.INSTRUCT, Phase.RELEASE, Phase.ASK, Phase.OUTRO})


@dataclass(frozen=True)
class State:
    routine: Routine
    phrases: Phrases
    phase: Phase = Phase.IDLE
    pos: Position = Position(0)  # noqa: RUF009 (a frozen value)
    now: float = 0.0
    # speaking: the lines of this phase, the one being said (or next), the seq awaited
    lines: tuple[Line, ...] = ()
    line: int = 0
    awaiting: int | None = None
    deadline: float | None = None
    # holding: the cue schedule, the next cue, the scheduled time of the previous cue
    cues: tuple[Cue, ...] = ()
    cue: int = 0
    last_cue_at: float = 0.0
    hold_suspended_at: float | None = None
    """Set while a hold waits for "repeat" to re-speak the instruction."""
    paused_at: float | None = None
    stopping: bool = False
    """A "stop" was heard: silent, ending at `deadline` unless undone."""
    stop_prompt: int | None = None
    """While stopping: the seq of the words that say how to take it back, until they have been spoken."""
    paused_before_stop: bool = False
    paused_for_speaker: bool = False
    """The pause is the speaker's going away, not the person's: its return resumes."""
    came_from: Position | None = None
    """Where the last "next" was heard: "back" right after it returns exactly there."""
    tempo: float = 1.0
    volume_db: float = 0.0
    seq: int = 0
    stretches_done: frozenset[int] = frozenset()
    completed: bool = False
    offer: Position | None = None
    """Where an unfinished earlier session stopped: "continue" before the start picks up there."""

    @property
    def wake_at(self) -> float | None:
        """When the controller next wants a Tick (None: only other events)."""
        return None if self.phase in (Phase.ENDED, Phase.IDLE) else self.deadline

    @property
    def ended(self) -> bool:
        return self.phase == Phase.ENDED

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


def initial_state(routine: Routine, tempo: float = 1.0, volume_db: float = 0.0,
                  start_at: Position | None = None, offer: Position | None = None) -> State:
    """A session about to begin; `offer` is a saved place the person may choose to continue from."""
    if offer is not None and not navigation.is_valid(routine, offer):
        offer = None
    if start_at is not None and not navigation.is_valid(routine, start_at):
        raise ValueError(f"start_at {start_at} is not a position of {routine.name!r}")
    return State(routine=routine, phrases=Phrases(routine.phrases), tempo=tempo, volume_db=volume_db,
                 pos=start_at or Position(0), offer=offer)


def intro_lines(state: State) -> tuple[Line, ...]:
    lines = [Line(t) for t in state.routine.intro]
    if state.offer is not None:
        name = state.routine.stretches[state.offer.stretch].name
        lines.append(Line(state.phrases.say("resume_offer", name=name)))
    return tuple(lines)


def seconds_left(state: State) -> float:
    """An estimate of the session time still to come: what is left of the current position (its lines
    from the one being said, its hold from the next cue), then every position after it and the outro.
    Frozen in a pause; longer after "slower", "back" and "repeat"."""
    routine, phrases, tempo, phase, here = state.routine, state.phrases, state.tempo, state.phase, state.pos
    if phase == Phase.ENDED:
        return 0.0

    def said(lines: tuple[Line, ...]) -> float:
        return sum(script.estimate_speech_seconds(line.text, tempo) + line.pause_after * tempo for line in lines)

    if phase == Phase.OUTRO:
        return said(state.lines[state.line:])
    later = said(tuple(Line(t) for t in routine.outro))
    for pos in script.positions(routine):
        if navigation.order(pos) > navigation.order(here):
            side = routine.stretches[pos.stretch].sides[pos.side]
            later += said((*script.position_lines(routine, phrases, pos), script.release_line(routine, phrases, pos)))
            later += hold_seconds(side.hold, tempo)
    if phase == Phase.ASK:
        return later
    release = said((script.release_line(routine, phrases, here),))
    if phase == Phase.RELEASE:
        return said(state.lines[state.line:]) + later
    hold_left = sum(cue.gap for cue in state.cues[state.cue:]) * tempo
    if phase == Phase.HOLD:
        return hold_left + release + later
    if phase == Phase.INSTRUCT:
        if not (state.hold_suspended_at is not None and state.cues):  # not "repeat" in the middle of a hold
            hold_left = hold_seconds(routine.stretches[here.stretch].sides[here.side].hold, tempo)
        return said(state.lines[state.line:]) + hold_left + release + later
    # before the routine has begun: all of the first position
    here_lines = script.position_lines(routine, phrases, here)
    return said(here_lines) + hold_seconds(routine.stretches[here.stretch].sides[here.side].hold, tempo) \
        + release + later
