"""From microphone chunks to the person's commands: echo cancellation against what the speaker played,
the recognizer, then the self-hearing filter. Runs on the microphone's thread; posts accepted commands.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from skill.asr import HANGOVER_SECONDS
from skill.audio import ASR_RATE, AudioChunk
from skill.commands import URGENT, Intent
from skill.echo import EchoCanceller, estimate_delay
from skill.self_hearing import SelfHearingFilter

log = logging.getLogger(__name__)

REANCHOR_SECONDS = 0.03
ALIGN_MARGIN_SECONDS = 0.03
BARGE_IN_COVERAGE = 0.9
"""While the guide talks, "stop"/"pause" whose words account for this much of the speech are taken, even
though the echo's remains make the recognizer unsure. Not lower: echo remains of the guide's own sentences
came out as "hold on" (0.46) and, once the endpointer handed over only an utterance's loud part, as
"wait" (0.82-0.85) and paused the session by themselves."""
MAX_LAG_SECONDS = 0.5
"""How far behind the reference the echo may arrive (output buffering + input buffering + air)."""
ECHO_DOMINANT_DB = 8.0
"""While the guide talks, an utterance from which the canceller took this much away was mostly the guide's
own voice: what the recognizer heard is its remains, not the person (whose voice the canceller leaves
alone). A person talking over the guide at its own level loses about 3 dB."""


class RecognitionLike(Protocol):
    intent: Intent | None
    text: str
    confidence: float
    start: float
    end: float


class RecognizerLike(Protocol):
    def feed(self, chunk: AudioChunk) -> list: ...


class ReferenceBuffer:
    """What the speaker played, at 16 kHz, on the monotonic clock: the echo canceller's reference."""

    def __init__(self, seconds: float = 20.0):
        self._size = int(seconds * ASR_RATE)
        self._ring = np.zeros(self._size, dtype=np.float32)
        self._origin: float | None = None  # monotonic time of sample index 0
        self._written = 0  # samples written since origin
        self._last_sound = -1e9
        self._lock = threading.Lock()

    def write(self, samples: np.ndarray, at: float) -> None:
        """`samples` (16 kHz mono) started playing at monotonic time `at`."""
        with self._lock:
            if self._origin is None:
                self._origin = at
            index = round((at - self._origin) * ASR_RATE)
            # Blocks arrive back to back; their timestamps jitter by a millisecond or so. Keep the signal
            # continuous (a gap or overlap every block would garble the canceller's reference) and only
            # re-anchor on the clock when it is really elsewhere (a pause in playback, a restarted stream).
            if abs(index - self._written) < int(REANCHOR_SECONDS * ASR_RATE) or index < self._written:
                index = self._written
            n = len(samples)
            if index > self._written:  # a gap: silence there, so stale audio is never read back
                gap = np.arange(max(self._written, index - self._size), index) % self._size
                self._ring[gap] = 0.0
            keep = min(n, self._size)
            self._ring[np.arange(index + n - keep, index + n) % self._size] = samples[n - keep:]
            self._written = max(self._written, index + n)
            if np.max(np.abs(samples), initial=0.0) > 1e-3:
                self._last_sound = at + len(samples) / ASR_RATE

    def read(self, at: float, n: int) -> np.ndarray:
        """`n` samples played from monotonic time `at` on (silence where nothing was)."""
        with self._lock:
            out = np.zeros(n, dtype=np.float32)
            if self._origin is None:
                return out
            index = round((at - self._origin) * ASR_RATE)
            lo, hi = max(index, self._written - self._size, 0), min(index + n, self._written)
            if hi > lo:
                out[lo - index: hi - index] = self._ring[np.arange(lo, hi) % self._size]
            return out

    def sounded_since(self, t: float) -> bool:
        return self._last_sound >= t


class Listener:
    """Feed it microphone chunks; it posts `(intent, text)` for each command the person said."""

    def __init__(self, recognizer: RecognizerLike, hearing: SelfHearingFilter,
                 post: Callable[[Intent | None, str], None], reference: ReferenceBuffer | None = None,
                 on_ignored: Callable[[str, str], None] | None = None, clock: Callable[[], float] = time.monotonic):
        self._recognizer = recognizer
        self._hearing = hearing
        self._post = post
        self._reference = reference
        self._on_ignored = on_ignored
        self._clock = clock
        self._aec = EchoCanceller()
        self._delay: float | None = None
        self._moved_to: float | None = None
        """A delay measured outside the canceller's span, waiting for a second measurement to agree."""
        self._pending_mic = np.zeros(0, dtype=np.float32)
        self._pending_at = 0.0
        self._history: list[tuple[float, np.ndarray]] = []
        self._next_delay_check = 0.0
        self._stream_to_monotonic = 0.0
        """Monotonic time minus the chunks' stream time: where a recognition's words were, on the clock."""
        self._cancelled: deque[tuple[float, float, float]] = deque(maxlen=int(8 * ASR_RATE / self._aec.block))
        """(monotonic time, mic energy, energy after cancelling) of each block the canceller processed."""

    def feed(self, chunk: AudioChunk, captured_at: float | None = None) -> None:
        """A chunk of 16 kHz mono audio; `captured_at` is the monotonic time of its first sample."""
        now = self._clock()
        at = captured_at if captured_at is not None else now - chunk.seconds
        self._stream_to_monotonic = at - chunk.timestamp
        samples = chunk.samples()
        cleaned = self._cancel_echo(samples, at)
        if cleaned is None:
            return
        for rec in self._recognizer.feed(AudioChunk.from_samples(cleaned, ASR_RATE, chunk.timestamp)):
            if rec.intent is None and rec.text:
                log.info("not a command: %r (%s)", rec.text, rec.reason)
            self._judge(rec, self._clock())

    def _judge(self, rec: RecognitionLike, heard_at: float) -> None:
        intent = rec.intent
        # the words ended a hangover before the recognizer could decide
        ended_at = heard_at - HANGOVER_SECONDS
        duration = rec.end - rec.start
        candidate = getattr(rec, "candidate", None)
        if intent is None and candidate is None:
            return
        # where the words were (the recognizer may decide well after them when echo residue followed)
        window = (rec.start + self._stream_to_monotonic, rec.end + self._stream_to_monotonic)
        over_guide = bool(self._hearing.tracker.playing_between(*window))
        cancelled = self._cancelled_db(*window) if over_guide else 0.0
        if cancelled > ECHO_DOMINANT_DB:
            log.info("ignored %r: mostly the guide's own voice (%.0f dB of it cancelled)", rec.text, cancelled)
            return
        if intent is None and candidate in URGENT and over_guide \
                and getattr(rec, "coverage", 0.0) >= BARGE_IN_COVERAGE:
            # "stop" or "pause" over the guide's voice: what is left of the echo lowers the recognizer's
            # confidence, so an urgent command is taken at a lower bar (the filter still refuses it when
            # the guide itself is saying that word).
            intent = candidate
            log.info("barge-in: %r over the guide (words cover %.2f, %.0f dB cancelled)", rec.text,
                     getattr(rec, "coverage", 0.0), cancelled)
        if intent is None:
            return
        if self._hearing.accept(intent, rec.text, ended_at, duration):
            self._post(intent, rec.text)
        else:
            log.info("ignored %r while the guide was talking", rec.text)
            if self._on_ignored is not None:
                self._on_ignored(rec.text, "guide talking")

    def _cancel_echo(self, samples: np.ndarray, at: float) -> np.ndarray | None:
        """The mic samples with the guide's voice removed, in whole AEC blocks (None: still buffering)."""
        ref = self._reference
        if ref is None:
            return samples
        if not len(self._pending_mic):
            self._pending_at = at
        self._pending_mic = np.concatenate([self._pending_mic, samples])
        block = self._aec.block
        usable = (len(self._pending_mic) // block) * block
        if usable == 0:
            return None
        mic, start = self._pending_mic[:usable], self._pending_at
        self._pending_mic = self._pending_mic[usable:]
        self._pending_at = start + usable / ASR_RATE
        self._remember(start, mic)
        self._update_delay(start + usable / ASR_RATE)
        if self._delay is None or not ref.sounded_since(start - MAX_LAG_SECONDS - 1.0):
            return mic
        reference = ref.read(start - self._delay, usable)
        cleaned = self._aec.process(mic, reference)
        block = self._aec.block
        for i in range(0, usable, block):
            self._cancelled.append((start + i / ASR_RATE, float(np.dot(mic[i:i + block], mic[i:i + block])),
                                    float(np.dot(cleaned[i:i + block], cleaned[i:i + block]))))
        return cleaned

    def _cancelled_db(self, t0: float, t1: float) -> float:
        """How much the echo canceller took out of the mic between monotonic times t0 and t1, in dB."""
        kept = [(m, c) for at, m, c in self._cancelled if t0 <= at <= t1]
        if not kept:
            return 0.0
        return float(10 * np.log10((sum(m for m, _ in kept) + 1e-12) / (sum(c for _, c in kept) + 1e-12)))

    def _remember(self, start: float, mic: np.ndarray) -> None:
        self._history.append((start, mic))
        while self._history and start - self._history[0][0] > 6.0:
            self._history.pop(0)

    def _update_delay(self, now: float) -> None:
        """Every few seconds of guide speech, re-measure how far the echo lags the reference."""
        ref = self._reference
        if ref is None or now < self._next_delay_check or not ref.sounded_since(now - 4.0):
            return
        self._next_delay_check = now + 3.0
        if not self._history:
            return
        start = self._history[0][0]
        mic = np.concatenate([m for _, m in self._history])
        if len(mic) < 2 * ASR_RATE:
            return
        lead = int(MAX_LAG_SECONDS * ASR_RATE)
        reference = ref.read(start - MAX_LAG_SECONDS, len(mic) + lead)
        # The mic starts `lead` samples after this reference, and the echo lags by `delay`: the reference
        # leads the mic by lead - delay samples.
        leads_by, peak = estimate_delay(reference, mic, lead)
        delay = (lead - leads_by) / ASR_RATE
        if peak < 0.3 or not -0.05 <= delay <= MAX_LAG_SECONDS:
            return
        # The filter spans its own length from the aligned delay: a measured delay inside that span is
        # the filter's to track (re-aligning would throw away what it learnt); outside it, re-align with a
        # margin before the direct path.
        window = self._aec.parts * self._aec.block / ASR_RATE
        inside = self._delay is not None and self._delay + 0.005 <= delay <= self._delay + window - 0.03
        if inside:
            self._moved_to = None
            return
        if self._delay is not None and (self._moved_to is None or abs(delay - self._moved_to) > 0.003):
            # Once aligned, one measurement elsewhere is not enough: the person talking, or a quiet stretch
            # of the guide, can mislead the correlation, and a wrong re-alignment throws away what the
            # canceller learnt (the guide's echo then comes through and can read as "wait").
            self._moved_to = delay
            return
        self._moved_to = None
        log.info("echo delay %.1f ms (match %.2f): aligning", delay * 1000, peak)
        self._delay = max(0.0, delay - ALIGN_MARGIN_SECONDS)
