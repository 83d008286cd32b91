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

    def align(self, t: float, delay: float) -> None:
        """A new alignment (the first, or a jump: a restarted stream). The drift of the clocks stays."""
        self._t0, self._delay0 = t, delay
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
