"""The echo-removed tally leaves the person's words out, and keeps its spans apart."""

from __future__ import annotations

import pytest

from skill.hearing.echo_tally import EchoTally

BLOCK = 0.01


def feed(tally: EchoTally, t0: float, t1: float, heard: float, left: float) -> None:
    for i in range(round((t1 - t0) / BLOCK)):
        tally.add(t0 + i * BLOCK, heard, left)


def test_the_persons_words_are_left_out_of_the_echo_removed() -> None:
    tally = EchoTally(BLOCK)
    feed(tally, 100.0, 104.0, heard=1.0, left=0.01)      # the guide's echo, 20 dB taken out
    feed(tally, 104.0, 105.0, heard=10.0, left=10.0)     # the person, louder, left alone
    counted_in = tally.removed_db()
    assert counted_in < 5.0
    assert tally.between(104.0, 105.0) == pytest.approx(0.0, abs=0.01)
    tally.person_spoke(104.0, 105.0)
    assert tally.removed_db() == pytest.approx(20.0, abs=0.01)
    tally.person_spoke(104.0, 105.0)  # said twice (two judgements of one stretch): counted out once
    assert tally.removed_db() == pytest.approx(20.0, abs=0.01)
    assert tally.between(104.0, 105.0) == pytest.approx(0.0, abs=0.01)  # a stretch is asked as it was


def test_spans_are_counted_from_the_first_block() -> None:
    tally = EchoTally(BLOCK)
    feed(tally, 50.0, 55.0, heard=1.0, left=0.1)         # converging: 10 dB
    feed(tally, 55.0, 80.0, heard=1.0, left=0.001)       # converged: 30 dB
    first, middle, rest = tally.removed_db_by_span()
    assert first == pytest.approx(10.0, abs=0.01)
    assert middle == pytest.approx(30.0, abs=0.01)
    assert rest is None
    feed(tally, 80.0, 81.0, heard=1.0, left=0.01)
    assert tally.removed_db_by_span()[2] == pytest.approx(20.0, abs=0.01)


def test_words_older_than_it_keeps_stay_counted() -> None:
    tally = EchoTally(BLOCK)
    feed(tally, 0.0, 1.0, heard=10.0, left=10.0)
    feed(tally, 1.0, 20.0, heard=1.0, left=0.01)
    before = tally.removed_db()
    tally.person_spoke(0.0, 1.0)  # long gone from what it keeps: nothing to take out, and no error
    assert tally.removed_db() == before
