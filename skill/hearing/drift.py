"""The echo's delay as a line over time, not a constant: a speaker and a microphone on separate clocks (a USB
mic and an HDMI or USB speaker, or PulseAudio's rate-adjusting loopback) drift apart by up to a few tenths of
a percent, so the echo arrives 1 ms later every second at 0.1 %. An adaptive filter cannot follow a path
that slides a sample every 60 ms; with the reference read at the drifting delay, the path it sees stands
still. (WebRTC compensates clock drift before its AEC the same way: by resampling the far end.)
"""

from __future__ import annotations

from collections import deque

import numpy as np

MAX_DRIFT = 0.005
"""Half a percent: more is not two clocks drifting but a delay measurement gone wrong."""
FIT_SECONDS = 30.0
"""How far back the measurements of the current alignment are fitted."""
MIN_SPAN_SECONDS = 4.0
"""Measurements must span this long before a slope is believed."""
GAP_SECONDS = 3.0
CORRECTION = 0.25
"""How much of the gap between the line in use and a new fit is closed at each measurement: the delay
moves smoothly (a jump would move the echo path under the filter's feet)."""


INTERPOLATION_HALF_WIDTH = 4
"""Samples each side of a fractional position that its value is formed from (a Hann-windowed sinc)."""
INTERPOLATION_PHASES = 128
"""Fractions of a sample the interpolation weights are tabled at: 1/256 of a sample at worst, 38 dB under
the signal at 4 kHz, and no sinc to evaluate per sample (0.5 % of a core here, five times that on a Pi)."""


def _weights_table() -> np.ndarray:
    h = INTERPOLATION_HALF_WIDTH
    x = np.arange(-h + 1, h + 1)[None, :] - (np.arange(INTERPOLATION_PHASES + 1) / INTERPOLATION_PHASES)[:, None]
    return (np.sinc(x) * (0.5 + 0.5 * np.cos(np.pi * x / h))).astype(np.float32)


_WEIGHTS = _weights_table()
_WEIGHT_COLUMNS = [np.ascontiguousarray(_WEIGHTS[:, k]) for k in range(_WEIGHTS.shape[1])]


def read_between(samples: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """`samples` read at fractional `positions` (each at least INTERPOLATION_HALF_WIDTH from either end),
    by windowed-sinc interpolation. Why not a straight line or a cubic between samples: both take several
    dB off the top octaves, a loss the canceller learns for the fraction it sees; when the fraction then
    moves (the delay creeping with drift, or a reading that switched from whole samples), it has to learn
    it again: 2.6 dB less echo removed on a tape with a cubic, 0.3 dB with this."""
    whole = np.floor(positions).astype(np.int64)
    phase = np.rint((positions - whole) * INTERPOLATION_PHASES).astype(np.int64)
    # tap by tap: gathering a (positions, taps) matrix of samples and one of weights cost twice as much
    # (2.2 ms for the delay tracker's 3.7 s window, which it reads every 0.75 s of the guide's speech)
    first = whole - (INTERPOLATION_HALF_WIDTH - 1)
    out = samples[first] * _WEIGHT_COLUMNS[0][phase]
    for k in range(1, len(_WEIGHT_COLUMNS)):
        out += samples[first + k] * _WEIGHT_COLUMNS[k][phase]
    return out.astype(np.float32, copy=False)


class DriftingDelay:
    """delay(t) = delay0 + drift * (t - t0), fitted to the delay measurements that agree with it."""

    def __init__(self) -> None:
        self._t0 = 0.0
        self._delay0: float | None = None
        self.drift = 0.0
        """Seconds of extra delay per second (0.001: the mic's clock runs 0.1 % fast against the speaker's)."""
        self._points: deque[tuple[float, float]] = deque(maxlen=64)

    @property
    def known(self) -> bool:
        return self._delay0 is not None

    def at(self, t: float) -> float:
        assert self._delay0 is not None
        return self._delay0 + self.drift * (t - self._t0)

    def align(self, t: float, delay: float, drift: float | None = None) -> None:
        """A new alignment (the first, or a jump: a restarted stream). The drift of the clocks stays,
        unless the measurement came with one."""
        self._t0, self._delay0 = t, delay
        if drift is not None:
            self.drift = drift
        self._points.clear()
        self._points.append((t, delay))

    def tolerance(self, t: float) -> float:
        """How far a measurement at `t` may lie from the line and still be this alignment: 2 ms, and what
        clocks drifting at most MAX_DRIFT could add since the last measurement that agreed, counted for at
        most GAP_SECONDS (after a long quiet the line itself has carried the drift; a bigger miss then is a
        jump, a restarted stream, and needs a new alignment, not a steeper slope)."""
        last = self._points[-1][0] if self._points else t
        return 0.002 + MAX_DRIFT * min(GAP_SECONDS, max(0.0, t - last))

    def agree(self, t: float, delay: float) -> None:
        """A measurement close to the line: refit the slope on the recent ones and move the line toward it."""
        self._points.append((t, delay))
        while self._points and t - self._points[0][0] > FIT_SECONDS:
            self._points.popleft()
        times = np.array([p[0] for p in self._points])
        if len(times) < 4 or times[-1] - times[0] < MIN_SPAN_SECONDS:
            return
        delays = np.array([p[1] for p in self._points])
        slope, intercept = np.polyfit(times - t, delays, 1)
        now = self.at(t)
        fitted = float(np.clip(slope, -MAX_DRIFT, MAX_DRIFT))
        self._t0 = t
        self._delay0 = now + CORRECTION * (float(intercept) - now)
        self.drift = self.drift + CORRECTION * (fitted - self.drift) if abs(self.drift) > 0 else fitted

    def nudge(self, t: float, delay: float, drift: float) -> None:
        """Move the line at `t` by `delay` seconds and its slope by `drift`: a correction found by the echo
        canceller's own path, finer than any delay measurement (it keeps its place among the points)."""
        assert self._delay0 is not None
        self._delay0, self._t0 = self.at(t) + delay, t
        self.drift = float(np.clip(self.drift + drift, -MAX_DRIFT, MAX_DRIFT))
        self._points = deque(((pt, d + delay) for pt, d in self._points), maxlen=self._points.maxlen)
