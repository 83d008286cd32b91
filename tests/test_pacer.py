from __future__ import annotations

import pytest

from skill.hearing.commands import Intent
from skill.routine.pacer import (
    BREATH_IN_SECONDS,
    BREATH_OUT_SECONDS,
    COUNT_SECONDS,
    TEMPO_MAX,
    TEMPO_MIN,
    change_tempo,
    hold_seconds,
    schedule,
)
from skill.routine.phrases import Phrases
from skill.routine.definition import Hold


def test_slow_count_of_ten_says_one_to_ten_a_slow_count_apart() -> None:
    cues = schedule(Hold("count", 10, "slow"), Phrases())
    spoken = [c for c in cues if c.kind == "count"]
    assert [c.log["n"] for c in spoken] == list(range(1, 11))
    assert spoken[0].text == "One" and spoken[-1].text == "Ten"
    assert all(c.gap == COUNT_SECONDS["slow"] for c in spoken[1:])
    assert cues[-1].kind == "end"


def test_breaths_alternate_in_and_out_on_a_calm_cycle() -> None:
    cues = schedule(Hold("breaths", 3), Phrases())
    breaths = [c for c in cues if c.kind == "breath"]
    assert [(c.log["phase"], c.log["n"]) for c in breaths] == [
        ("in", 1), ("out", 1), ("in", 2), ("out", 2), ("in", 3), ("out", 3)]
    assert [c.gap for c in breaths[1:]] == [BREATH_IN_SECONDS, BREATH_OUT_SECONDS] * 2 + [BREATH_IN_SECONDS]
    assert breaths[-2].text == "Last breath in."


def test_timed_hold_lasts_its_seconds_with_a_gentle_countdown() -> None:
    hold = Hold("seconds", 20)
    cues = schedule(hold, Phrases())
    assert hold_seconds(hold) == pytest.approx(20.0)
    remaining = [c.log["remaining"] for c in cues if c.kind == "countdown"]
    assert remaining == [10, 3, 2, 1]
    assert hold_seconds(hold, tempo=1.5) == pytest.approx(30.0)


@pytest.mark.parametrize("amount", [1, 4, 12, 45.5])
def test_timed_holds_of_any_length_sum_to_their_amount(amount: float) -> None:
    assert hold_seconds(Hold("seconds", amount)) == pytest.approx(amount)


def test_tempo_steps_and_bounds() -> None:
    assert change_tempo(1.0, Intent.SLOWER) == pytest.approx(1.25)
    assert change_tempo(1.0, Intent.FASTER) == pytest.approx(0.8)
    tempo = 1.0
    for _ in range(10):
        tempo = change_tempo(tempo, Intent.SLOWER)
    assert tempo == TEMPO_MAX
    for _ in range(20):
        tempo = change_tempo(tempo, Intent.FASTER)
    assert tempo == TEMPO_MIN
