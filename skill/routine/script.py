"""What the guide says where: the lines of each position in a routine, every text a session can say,
and time estimates. Pure functions of the routine; the controller decides when.
"""

from __future__ import annotations

from dataclasses import dataclass

from skill.routine.definition import Routine, Side, Stretch
from skill.routine.phrases import Phrases

SPEECH_START_SECONDS, SECONDS_PER_CHARACTER = 0.26, 0.0543
"""How long the voice takes to say a text at tempo 1.0, for simulations without rendered audio: fitted by
least squares on the 194 phrases of the built-in routine as the Piper voice says them (mean error 0.27 s a
phrase, total exact; by words it was 0.81 s a phrase and 29 % long, so `show` said 28 min for a session
`render` made 25.6 min)."""
LINE_PAUSE = 0.8
"""Seconds of quiet between instruction sentences, at tempo 1.0."""
MOVE_PAUSE = 3.0
"""After the starting position is named: time to get into it."""
SETTLE_PAUSE = 1.5
"""After a side or repetition ends, before the next one begins."""


@dataclass(frozen=True)
class Position:
    """Where the session is: a stretch (0-based), its side (0-based) and repetition (1-based)."""

    stretch: int
    side: int = 0
    repetition: int = 1


@dataclass(frozen=True)
class Line:
    text: str
    pause_after: float = LINE_PAUSE
    """Seconds of quiet after it, at tempo 1.0."""


def estimate_speech_seconds(text: str, tempo: float = 1.0) -> float:
    """A guess at how long the voice takes to say `text` (used when no audio is rendered)."""
    return (SPEECH_START_SECONDS + SECONDS_PER_CHARACTER * len(text.strip())) * tempo


def side_of(stretch: Stretch, pos: Position) -> Side:
    return stretch.sides[pos.side]


def position_lines(routine: Routine, phrases: Phrases, pos: Position) -> tuple[Line, ...]:
    """What is said to get into a position, before its hold."""
    stretch = routine.stretches[pos.stretch]
    side = side_of(stretch, pos)
    lines: list[Line] = []
    if pos.side == 0 and pos.repetition == 1:
        lines.append(Line(phrases.say("stretch_intro", index=pos.stretch + 1, total=len(routine.stretches),
                                      name=stretch.name)))
        lines.append(Line(phrases.say("starting_position", start=stretch.start), MOVE_PAUSE))
        lines += [Line(t) for t in (*stretch.steps, *side.steps)]
    elif pos.side == 0:
        again = stretch.again or (phrases.say("again_default"), *stretch.steps)
        lines += [Line(t) for t in (*again, *side.steps)]
    else:
        lines += [Line(t) for t in (side.steps or (phrases.say("side_default", side=side.side),))]
    if side.tip:
        lines.append(Line(side.tip))
    return tuple(lines)


def release_line(routine: Routine, phrases: Phrases, pos: Position) -> Line:
    side = side_of(routine.stretches[pos.stretch], pos)
    return Line(side.release or phrases.say("release_default"), SETTLE_PAUSE)


def positions(routine: Routine) -> list[Position]:
    """Every position of a session nobody interrupts, in order."""
    out: list[Position] = []
    for i, stretch in enumerate(routine.stretches):
        reps = routine.repeats if stretch.repeat == "comfortable" else stretch.repeat
        for rep in range(1, reps + 1):
            out += [Position(i, s, rep) for s in range(len(stretch.sides))]
    return out


def spoken_texts(routine: Routine) -> list[str]:
    """Every text a session on this routine can say, each once, in about the order a session says them
    (what `prepare` renders, first things first): the intro, the first stretch, the replies to commands,
    the other stretches, the end, the status lines."""
    from skill.routine.pacer import schedule

    phrases = Phrases(routine.phrases)
    texts: dict[str, None] = {}

    def add(*items: str) -> None:
        for item in items:
            texts.setdefault(item, None)

    add(*routine.intro, phrases.say("begin"))
    for i, stretch in enumerate(routine.stretches):
        for s in range(len(stretch.sides)):
            for rep in (1, 2):
                pos = Position(i, s, rep)
                add(*(line.text for line in position_lines(routine, phrases, pos)))
                add(release_line(routine, phrases, pos).text)
            add(*(c.text for c in schedule(stretch.sides[s].hold, phrases) if c.text))
        if i == 0:
            add(*(phrases.say(key) for key in (
                "ask_again", "going_again", "moving_on", "slower", "faster", "slowest", "fastest", "louder",
                "quieter", "loudest", "quietest", "resume", "already_started", "nothing_before", "help",
                "stopping", "goodnight", "paused_too_long", "status_last")))
    add(*routine.outro)
    for i, stretch in enumerate(routine.stretches):
        add(phrases.say("resume_offer", name=stretch.name))
        add(phrases.say("status", index=i + 1, total=len(routine.stretches), name=stretch.name))
        add(phrases.say("status_next", name=stretch.name))
    for minutes in range(1, 61):
        add(phrases.say("status_left", minutes=phrases.minutes(minutes)))
    return list(texts)
