"""Where the routine goes from a position (skill/session/navigation.py), without a controller or devices."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from skill.routine.definition import Routine, load_routine, parse_routine
from skill.routine.script import Position, positions
from skill.session import navigation
from skill.session.state import initial_state

SIDES_AND_ROUNDS = """
name = "Sides and rounds"
intro = ["Hello."]
outro = ["Bye."]
repeats = 3

[[stretches]]
name = "Hug"
start = "Lie down."
steps = ["Hug."]
hold = { kind = "count", amount = 3 }
repeat = 2
sides = [{ side = "right" }, { side = "left" }]

[[stretches]]
name = "Bridge"
start = "Lie down."
steps = ["Lift."]
hold = { kind = "breaths", amount = 1 }
repeat = "comfortable"

[[stretches]]
name = "Twist"
start = "Lie down."
steps = ["Twist."]
hold = { kind = "seconds", amount = 20 }
sides = [{ side = "right" }, { side = "left" }]
"""


def routines() -> list[Routine]:
    return [load_routine(), parse_routine(SIDES_AND_ROUNDS, Path("sides.toml"))]


def walk(routine: Routine) -> list[Position]:
    """Every position a session nobody interrupts goes through, by the navigation alone (answering "go
    again?" with yes until the routine's count)."""
    pos: Position | None = Position(0)
    seen = []
    while pos is not None:
        seen.append(pos)
        if navigation.asks_again(routine, pos):
            pos = Position(pos.stretch, 0, pos.repetition + 1)
        else:
            pos = navigation.next_in_stretch(routine, pos) or navigation.next_stretch(routine, pos)
    return seen


def test_going_on_visits_every_position_in_the_script_order() -> None:
    for routine in routines():
        assert walk(routine) == positions(routine)
        assert [navigation.order(p) for p in walk(routine)] == sorted(navigation.order(p) for p in walk(routine))


def test_back_is_the_inverse_of_going_on_except_across_stretches() -> None:
    """'back' from a position returns to the one before it, except at a stretch's first side and round,
    where it goes to the start of the stretch before (not its last round: the person wants the stretch)."""
    for routine in routines():
        order = positions(routine)
        for before, here in itertools.pairwise(order):
            expected = Position(here.stretch - 1) if here.stretch != before.stretch else before
            assert navigation.previous(routine, here) == expected, (before, here)
        assert navigation.previous(routine, order[0]) is None


def test_a_comfortable_stretch_asks_on_its_last_side_until_the_routines_count() -> None:
    routine = parse_routine(SIDES_AND_ROUNDS, Path("sides.toml"))
    assert [navigation.asks_again(routine, Position(1, 0, r)) for r in (1, 2, 3)] == [True, True, False]
    assert not navigation.asks_again(routine, Position(0, 1, 1))  # a fixed count never asks
    assert navigation.next_in_stretch(routine, Position(1, 0, 1)) is None  # the question decides, not a count
    assert navigation.rounds(routine, routine.stretches[1]) == 3
    assert navigation.rounds(routine, routine.stretches[0]) == 2


def test_only_positions_inside_the_routine_are_valid() -> None:
    routine = parse_routine(SIDES_AND_ROUNDS, Path("sides.toml"))
    assert all(navigation.is_valid(routine, p) for p in positions(routine))
    for bad in (Position(3), Position(-1), Position(0, 2, 1), Position(0, 0, 3), Position(1, 0, 4), Position(0, 0, 0)):
        assert not navigation.is_valid(routine, bad), bad


def test_a_session_cannot_start_outside_its_routine() -> None:
    routine = parse_routine(SIDES_AND_ROUNDS, Path("sides.toml"))
    assert initial_state(routine, start_at=Position(2, 1, 1)).pos == Position(2, 1, 1)
    with pytest.raises(ValueError, match="not a position"):
        initial_state(routine, start_at=Position(5))
