"""The echo delay followed as a line when the speaker's and the microphone's clocks drift apart."""

from __future__ import annotations

import numpy as np
import pytest

from skill.hearing.drift import MAX_DRIFT, DriftingDelay


def test_the_slope_of_drifting_clocks_is_found_and_followed() -> None:
    d = DriftingDelay()
    d.align(0.0, 0.100)
    rng = np.random.default_rng(0)
    for k in range(1, 40):
        t = 0.75 * k
        measured = round((0.100 + 0.001 * t) * 16000 + rng.normal(0, 0.5)) / 16000  # whole samples, jittered
        assert abs(measured - d.at(t)) <= d.tolerance(t)  # always taken as the same alignment
        d.agree(t, measured)
    assert d.drift == pytest.approx(0.001, abs=0.0001)
    assert d.at(40.0) == pytest.approx(0.140, abs=0.0005)  # between measurements too


def test_no_drift_stays_no_drift() -> None:
    d = DriftingDelay()
    d.align(0.0, 0.050)
    for k in range(1, 30):
        d.agree(0.75 * k, 0.050)
    assert abs(d.drift) < 1e-6 and d.at(100.0) == pytest.approx(0.050, abs=1e-4)


def test_a_wild_slope_is_held_to_half_a_percent_and_a_jump_keeps_the_drift() -> None:
    d = DriftingDelay()
    d.align(0.0, 0.0)
    for k in range(1, 12):
        d.agree(0.75 * k, 0.02 * 0.75 * k)  # 2 %: no two clocks drift like that
    assert abs(d.drift) <= MAX_DRIFT
    d.align(20.0, 0.300)  # a restarted stream moves the delay; the clocks drift as before
    assert d.at(20.0) == 0.300 and abs(d.drift) > 0


def test_after_a_long_quiet_a_jump_is_not_taken_for_drift() -> None:
    d = DriftingDelay()
    d.align(0.0, 0.100)
    assert d.tolerance(300.0) < 0.02  # five minutes later, 30 ms off is a new alignment
