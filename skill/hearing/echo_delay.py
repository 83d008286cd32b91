"""The echo's delay: how far behind the reference the microphone hears the guide, found and followed."""

from __future__ import annotations

import logging

import numpy as np

from skill.audio import ASR_RATE
from skill.hearing.drift import INTERPOLATION_HALF_WIDTH, DriftingDelay
from skill.hearing.echo import estimate_delay
from skill.hearing.echo_library import Canceller
from skill.hearing.reference import REANCHOR_SECONDS, ReferenceBuffer

log = logging.getLogger(__name__)

DELAY_CHECK_SECONDS = 0.75
DELAY_WINDOW_SECONDS = 3.0
FIRST_WINDOW_SECONDS = 1.0
"""Until the first alignment a second of speech is enough to measure on: the canceller engages at about
1.2 s rather than 3 s (echo removed 2-5 s into the session's tapes: 4 dB -> 9-10 dB)."""
MOVE_MATCH = AGREE_MATCH = 0.3
"""A delay measured with a weaker match than this neither moves the alignment nor fits the drift (taking
the 0.15-0.3 matches into the fit, on the 0.1 % offset tape, lowered the echo removed from 3.0 to 1.0 dB
and let three commands through on another tape)."""
PATH_MAX_MOVE_SECONDS = 0.002
"""A path that moved more than this between two looks is the filter learning anew, not drift: the line
carries the drift, and what it misses moves the path a small fraction of this in the 0.75 s between looks."""
PATH_DEADBAND_SAMPLES = 0.25
"""A path that moved less than this is left alone: where the peak is read wobbles by about a tenth of a
sample, and following the wobble cost 3 dB of echo removed on a tape with no drift at all."""
PATH_DRIFT_GAIN = 0.5
"""The share of the path's drift rate taken into the line's slope at each look."""
DRIFT_STEP = 0.0005
DRIFT_CANDIDATES = tuple(DRIFT_STEP * k for k in (0, 1, -1, 2, -2, 3, -3, 4, -4))
"""Before the first alignment, the delay is measured as clocks drifting by each of these would have it: at
0.1 % the echo slides 3 ms within a 3 s window, which smears the match from 0.8 to 0.1-0.2, below any
trust; measured at the right drift it stays sharp, and the first alignment knows its slope at once. A
quarter of the step off still blurs it by 0.4 ms: the search ends halfway between the best and its
neighbours."""
DRIFT_SEARCH_SECONDS = 6.0
SURE_MATCH = 0.8
"""A delay measured with a match this strong is taken at once; a weaker one needs a second to agree."""
ALIGN_MARGIN_SECONDS = 0.03
MAX_LAG_SECONDS = 0.5
"""How far behind the reference the echo may arrive (output buffering + input buffering + air)."""
EARLY_SECONDS = REANCHOR_SECONDS
"""How far ahead of the reference the echo may seem to arrive: the streams keep their places on the clock
through steps under REANCHOR_SECONDS, so a microphone that lost audio at its start (the virtual devices'
loses 450 ms over its first second) can hear on its own timeline what was played up to that much later. A
live session's tape measured -18 ms that way, and with lags from 0 on only, never found its echo at all."""
LAG_SPAN = int((MAX_LAG_SECONDS + EARLY_SECONDS) * ASR_RATE)
"""The lags looked at, in samples: from MAX_LAG_SECONDS behind the reference to EARLY_SECONDS ahead."""
ECHO_ABSENT_CHECKS = 12
"""About 9 s of the guide's speech looked at (a look every DELAY_CHECK_SECONDS) with no echo found: there is
none. Before that the echo may only be hard to find yet: a live session on the virtual devices found none in
its first 4 s of speech (the microphone's first timestamps jumped), then a clear one."""
FOLLOWED_MEASURE_EVERY = 4
"""While the canceller's own path holds the alignment, a delay measured that agrees with the line changes
nothing (the path is finer): the delay is measured at every 4th look only (3 s), to catch a jump the
residue did not show. An echo that moved shows in the residue first: the filter cancels less, its path is
no longer read, and the next look measures. The measurement was most of the delay tracking's CPU."""
SETTLE_SECONDS = 3.0
"""How long the canceller learns after the echo is first found before what it leaves is trusted: 2.2 s in,
it took 8 dB off the guide's "Say continue to pick up from there" and the rest was heard as "softer"."""


class EchoDelay:
    """How far behind what the speaker played the microphone hears it, and how that moves: measured by
    cross-correlation every second or so of the guide's speech, followed as a line when the two clocks
    drift, and held to a fraction of a sample by the canceller's own path. Keeps the canceller aligned."""

    def __init__(self, reference: ReferenceBuffer, canceller: Canceller):
        self._reference = reference
        self._aec = canceller
        self.delay: float | None = None
        """Where the canceller's filter starts: the measured echo delay less a margin."""
        self.echo_delay: float | None = None
        """The echo delay last measured."""
        self.drifting = DriftingDelay()
        """The echo delay as it moves with the two clocks' drift, between measurements."""
        self._moved_to: float | None = None
        """An unsure delay measurement away from the aligned one, waiting for a second to agree."""
        self._path_anchor: float | None = None
        """Where the echo's direct path sits in the canceller's filter (samples), held there by `_follow_path`."""
        self._path_seen_at = 0.0
        self._next_drift_search = 0.0
        self._next_check = 0.0
        self._followed_looks = 0
        """Looks in a row at which the canceller's path held the alignment."""
        self.unmatched_checks = 0
        """Looks at the guide's speech that found no echo in it, before the first alignment."""
        self.first_aligned_at: float | None = None

    def unknown_at(self, t: float) -> bool:
        """Whether at monotonic time `t` the echo may be there but the canceller cannot yet vouch for what
        it leaves: not yet found (a setup with none at all, headphones, is taken to be one after
        ECHO_ABSENT_CHECKS looks found none), or found less than SETTLE_SECONDS before."""
        if self.first_aligned_at is None:
            return self.unmatched_checks < ECHO_ABSENT_CHECKS
        return t - self.first_aligned_at < SETTLE_SECONDS

    def update(self, now: float, history: list[tuple[float, np.ndarray]]) -> None:
        """Every second or so of guide speech, re-measure how far the echo lags the reference, and keep the
        canceller aligned with it: audio stacks move that lag by tens of ms within a session (an underrun,
        a stream restarted), and an echo that arrives before the filter's span is not cancelled at all."""
        if now < self._next_check or not self._reference.sounded_since(now - DELAY_WINDOW_SECONDS):
            return
        self._next_check = now + DELAY_CHECK_SECONDS
        following = self._follow_path(now)
        self._followed_looks = self._followed_looks + 1 if following else 0
        if self._followed_looks % FOLLOWED_MEASURE_EVERY:
            return
        recent = [(at, m) for at, m in history if at >= now - DELAY_WINDOW_SECONDS]
        if not recent:
            return
        start = recent[0][0]
        mic = np.concatenate([m for _, m in recent])
        enough = DELAY_WINDOW_SECONDS - 0.5 if self.drifting.known else FIRST_WINDOW_SECONDS
        if len(mic) < enough * ASR_RATE:
            return
        if self.drifting.known:
            lag, peak, _ = self.lag(mic, start, self.drifting.drift)
            drift = self.drifting.drift
        elif now >= self._next_drift_search:
            # a dozen measurements: not at every check while no echo is found (headphones have none)
            self._next_drift_search = now + DRIFT_SEARCH_SECONDS
            peak, lag, drift = self._search_drift(mic, start)
        else:
            (lag, peak, _), drift = self.lag(mic, start), 0.0
        delay = lag / ASR_RATE
        measured_at = start + len(mic) / ASR_RATE / 2
        log.debug("echo delay measured %.1f ms (match %.2f)", delay * 1000, peak)
        if peak < AGREE_MATCH or not -EARLY_SECONDS <= delay <= MAX_LAG_SECONDS:
            if self.delay is None:
                self.unmatched_checks += 1
            return
        expected = self.drifting.at(measured_at) if self.drifting.known else None
        if expected is not None and abs(delay - expected) <= self.drifting.tolerance(measured_at):
            self._moved_to = None
            if following:
                return  # the filter's own path keeps the line finer than this measurement can
            was = self._read_delay(now)
            self.drifting.agree(measured_at, delay)
            self.echo_delay = self.drifting.at(now)
            self.delay = max(-EARLY_SECONDS, self.echo_delay - ALIGN_MARGIN_SECONDS)
            # The line follows the echo as the clocks drift: a correction of it moves where the reference
            # is read, not the room, so the filter's path moves with it (a new alignment, below, is the
            # audio stack's delay itself jumping, and the path stays where it was).
            self._aec.shift((self._read_delay(now) - was) * ASR_RATE)
            return
        if peak < MOVE_MATCH:
            return
        if self.echo_delay is not None and peak < SURE_MATCH and \
                (self._moved_to is None or abs(delay - self._moved_to) > 0.003):
            # An unsure measurement elsewhere waits for a second to agree: the person talking, or a quiet
            # stretch of the guide, can mislead the correlation, and a wrong alignment lets the echo through.
            self._moved_to = delay
            return
        self._moved_to = None
        # The filter's taps are the room's response from the direct path on; aligned on the new delay, the
        # path moves with it and what the filter learnt stays where it was.
        log.info("echo delay %.1f ms (match %.2f): aligning", delay * 1000, peak)
        if self.first_aligned_at is None:
            self.first_aligned_at = now
        self._path_anchor = None
        self.drifting.align(measured_at, delay, None if self.drifting.known else drift)
        self.echo_delay = delay
        self.delay = max(-EARLY_SECONDS, delay - ALIGN_MARGIN_SECONDS)

    def _follow_path(self, now: float) -> bool:
        """Keep the echo's direct path where it was in the canceller's filter: a path that moves there is
        the two clocks drifting by more than the line says. The line is moved by what the path moved (and
        the path moved back with it), and its slope by a share of the rate: a loop that holds the path to a
        fraction of a sample, which no cross-correlation over seconds of speech can measure. False while
        the canceller cannot show its path (learning, a library's, or no clear peak)."""
        lag = self._aec.path_lag() if self.drifting.known else None
        if lag is None:
            self._path_anchor = None
            return False
        if self._path_anchor is None:
            self._path_anchor, self._path_seen_at = lag, now
            return True
        moved = (lag - self._path_anchor) / ASR_RATE
        if abs(moved) > PATH_MAX_MOVE_SECONDS:
            self._path_anchor = None  # not drift: the filter is learning a new path
            return False
        if abs(moved) * ASR_RATE < PATH_DEADBAND_SAMPLES:
            return True
        was = self._read_delay(now)
        elapsed = max(now - self._path_seen_at, DELAY_CHECK_SECONDS)
        self.drifting.nudge(now, moved, PATH_DRIFT_GAIN * moved / elapsed)
        self.echo_delay = self.drifting.at(now)
        self.delay = max(-EARLY_SECONDS, self.echo_delay - ALIGN_MARGIN_SECONDS)
        self._aec.shift((self._read_delay(now) - was) * ASR_RATE)
        self._path_seen_at = now
        return True

    def _search_drift(self, mic: np.ndarray, start: float) -> tuple[float, int, float]:
        """(match, lag, drift) at the drift that matches best: the coarse candidates, then halfway to
        their neighbours around the best."""
        def measured(drift: float) -> tuple[float, int, float]:
            lag, peak, _ = self.lag(mic, start, drift)
            return peak, lag, drift

        best = max(measured(d) for d in DRIFT_CANDIDATES)
        step = DRIFT_STEP / 2
        return max(best, *(measured(best[2] + d) for d in (-step, step)))

    def _read_delay(self, t: float) -> float:
        """How far back the reference is read for the mic sample at `t` (what `_drifted_reference` does)."""
        if not self.drifting.known:
            return self.delay or 0.0
        return max(-EARLY_SECONDS, self.drifting.at(t) - ALIGN_MARGIN_SECONDS)

    def reference_until(self, start: float, n: int) -> float:
        """The monotonic time up to which `reference_for(start, n)` reads what was played."""
        end = start + n / ASR_RATE
        drifted = self.drifting.drift * n / ASR_RATE if self.drifting.known else 0.0
        return end - self._read_delay(start) - drifted + (INTERPOLATION_HALF_WIDTH + 2) / ASR_RATE

    def reference_for(self, start: float, n: int) -> np.ndarray:
        """The reference for `n` mic samples from `start`, each read at the delay of its own moment: with
        the clocks drifting, between the block's ends the delay moves by a fraction of a sample."""
        if not self.drifting.known:
            return self._reference.read(start - self._read_delay(start), n)
        times = start + np.arange(n) / ASR_RATE
        return self._reference.read_at(times - self._read_delay(start) - self.drifting.drift * (times - start))

    def lag(self, mic: np.ndarray, start: float, drift: float = 0.0) -> tuple[int, float, np.ndarray]:
        """How many samples the echo in `mic` (its first sample at monotonic `start`) lags the reference
        in the middle of `mic` (negative: it seems to lead it, down to EARLY_SECONDS), how well they match
        (0..1), and the reference read from MAX_LAG_SECONDS before `start` on, as clocks drifting by `drift`
        would have it arrive (`len(mic)` + LAG_SPAN samples)."""
        lead = int(MAX_LAG_SECONDS * ASR_RATE)
        n = len(mic) + LAG_SPAN
        if drift == 0.0:
            reference = self._reference.read(start - MAX_LAG_SECONDS, n)
        else:
            # each sample read at its own delay, the window's middle at the delay measured
            offsets = np.arange(n) - drift * (np.arange(n) - (lead + len(mic) / 2))
            reference = self._reference.read_at(start - MAX_LAG_SECONDS + offsets / ASR_RATE)
        # The mic starts `lead` samples after this reference, and the echo lags by `lag`: the reference
        # leads the mic by lead - lag samples.
        leads_by, peak = estimate_delay(reference, mic, LAG_SPAN)
        return lead - leads_by, peak, reference
