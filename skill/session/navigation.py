"""Where a routine goes from a position: the next side or round, the one before, and their order. Pure
functions of the routine; the controller decides when to go."""

from __future__ import annotations

from skill.routine.definition import Routine, Stretch
from skill.routine.script import Position


def rounds(routine: Routine, stretch: Stretch) -> int:
    """How many rounds a stretch can have: its own count, or the routine's default for "as many times as
    is comfortable"."""
    return routine.repeats if stretch.repeat == "comfortable" else stretch.repeat


def is_valid(routine: Routine, pos: Position) -> bool:
    if not 0 <= pos.stretch < len(routine.stretches):
        return False
    stretch = routine.stretches[pos.stretch]
    return 0 <= pos.side < len(stretch.sides) and 1 <= pos.repetition <= rounds(routine, stretch)


def next_side(routine: Routine, pos: Position) -> Position | None:
    """The other side of this round, if it has one still to come."""
    if pos.side + 1 < len(routine.stretches[pos.stretch].sides):
        return Position(pos.stretch, pos.side + 1, pos.repetition)
    return None


def next_in_stretch(routine: Routine, pos: Position) -> Position | None:
    """The next side, else the next of a fixed number of rounds; None where the stretch is done or asks
    whether to go again."""
    side = next_side(routine, pos)
    if side is not None:
        return side
    stretch = routine.stretches[pos.stretch]
    if isinstance(stretch.repeat, int) and pos.repetition < stretch.repeat:
        return Position(pos.stretch, 0, pos.repetition + 1)
    return None


def asks_again(routine: Routine, pos: Position) -> bool:
    """After this position's release, whether the guide asks "go again?" (a stretch done as many times as
    is comfortable, on its last side, below the routine's default count)."""
    stretch = routine.stretches[pos.stretch]
    return (next_side(routine, pos) is None and stretch.repeat == "comfortable"
            and pos.repetition < routine.repeats)


def next_stretch(routine: Routine, pos: Position) -> Position | None:
    """The first position of the next stretch; None after the last one."""
    return Position(pos.stretch + 1) if pos.stretch + 1 < len(routine.stretches) else None


def previous(routine: Routine, pos: Position) -> Position | None:
    """The position before: the other side, the last side of the round before, or the start of the
    stretch before; None at the very first."""
    if pos.side > 0:
        return Position(pos.stretch, pos.side - 1, pos.repetition)
    if pos.repetition > 1:
        return Position(pos.stretch, len(routine.stretches[pos.stretch].sides) - 1, pos.repetition - 1)
    if pos.stretch > 0:
        return Position(pos.stretch - 1)
    return None


def order(pos: Position) -> tuple[int, int, int]:
    """The order positions come in: stretch, then round, then side."""
    return pos.stretch, pos.repetition, pos.side
