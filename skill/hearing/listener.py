"""From microphone chunks to the person's commands: echo cancellation against what the speaker played,
the recognizer, a check of each utterance against that reference (the guide's own voice is ignored), then
the self-hearing filter. Runs on the microphone's thread; posts accepted commands.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from skill.hearing.recognizer import HANGOVER_SECONDS
from skill.audio import ASR_RATE, AudioChunk
from skill.hearing.commands import URGENT, Intent
from skill.hearing.drift import DriftingDelay
from skill.hearing.echo import echo_share, estimate_delay
from skill.hearing.echo_library import Canceller, open_canceller
from skill.hearing.self_hearing import SelfHearingFilter
from skill.stage_clock import stage

log = logging.getLogger(__name__)

REANCHOR_SECONDS = 0.2
"""The speaker and the microphone are continuous streams whose per-block timestamps jitter by tens of ms
(PulseAudio's ALSA plugin) and drift apart slowly: the echo delay tracker follows the drift. Only a jump
this large (a stream restarted, a real gap) moves a stream's place on the clock."""
ALIGN_MARGIN_SECONDS = 0.03
BARGE_IN_COVERAGE = 0.9
"""While the guide talks, "stop"/"pause" whose words account for this much of the speech are taken, even
though the echo's remains make the recognizer unsure. Not lower: echo remains of the guide's own sentences
came out as "hold on" (0.46) and, once the endpointer handed over only an utterance's loud part, as
"wait" (0.82-0.85) and paused the session by themselves."""
BARGE_IN_MIN_MARGIN = 2.0
"""...and whose phrase explains them this much better than common English words do (per 10 ms frame, where
the engine measures it); every other command over the guide needs the same margin on top of the
recognizer's own acceptance (a "stop" or "pause" it accepted outright does not: the self-hearing filter
guards those, as before every command could barge in). The guide's "And release." once came out as
"pause" at full coverage but +0.2 against common words, and paused the session; its other echo remains
measured -0.9 to +6.5, clean commands 5-11."""
ECHO_SHARE_MAX = 0.8
"""An utterance whose sound the guide's voice explains more than this of (`echo_share`) is the guide's own.
The guide's echo alone measures 0.95-1; with a person talking over it at its own level, about 0.5; with
the person 6 dB under it, 0.8."""
DELAY_CHECK_SECONDS = 0.75
DELAY_WINDOW_SECONDS = 3.0
MOVE_MATCH = AGREE_MATCH = 0.3
"""A delay measured with a weaker match than this neither moves the alignment nor fits the drift (taking
the 0.15-0.3 matches into the fit, on the 0.1 % offset tape, lowered the echo removed from 3.0 to 1.0 dB
and let three commands through on another tape)."""
SURE_MATCH = 0.8
"""A delay measured with a match this strong is taken at once; a weaker one needs a second to agree."""
MAX_LAG_SECONDS = 0.5
"""How far behind the reference the echo may arrive (output buffering + input buffering + air)."""
BEHIND_SECONDS = 3.0
"""A chunk heard this long ago when it comes to be processed means the CPU cannot keep up (under a 10 % CPU
quota here the microphone's queue filled, 20 s behind): such chunks are dropped until the listener is
current again. A command said meanwhile is lost; one answered 20 s late would be worse. Not less: under a
25 % quota a decode keeps the listener 1-2 s behind and it catches up by itself, where dropping at 1 s lost
3 of 13 commands and the canceller's hold on the echo."""
CAUGHT_UP_SECONDS = 0.5
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
            # Blocks arrive back to back. Keep the signal continuous (following each block's jittery
            # timestamp would garble the canceller's reference) and only re-anchor on the clock when it is
            # really elsewhere (a restarted stream).
            if abs(index - self._written) < int(REANCHOR_SECONDS * ASR_RATE) or index < self._written:
                index = self._written
            n = len(samples)
            if index > self._written:  # a gap: silence there, so stale audio is never read back
                lo = max(self._written, index - self._size)
                self._put(lo, np.zeros(index - lo, np.float32))
            keep = min(n, self._size)
            self._put(index + n - keep, samples[n - keep:])
            self._written = max(self._written, index + n)
            if n and max(float(samples.max()), -float(samples.min())) > 1e-3:
                self._last_sound = at + len(samples) / ASR_RATE

    def _put(self, index: int, samples: np.ndarray) -> None:
        """`samples` (at most the ring's size) into the ring from absolute sample `index` on, wrapping."""
        at = index % self._size
        first = min(len(samples), self._size - at)
        self._ring[at: at + first] = samples[:first]
        self._ring[: len(samples) - first] = samples[first:]

    def _get(self, lo: int, hi: int, out: np.ndarray) -> None:
        """Absolute samples [lo, hi) (within the ring's span) into `out`, unwrapping."""
        at = lo % self._size
        first = min(hi - lo, self._size - at)
        out[:first] = self._ring[at: at + first]
        out[first: hi - lo] = self._ring[: hi - lo - first]

    def read(self, at: float, n: int) -> np.ndarray:
        """`n` samples played from monotonic time `at` on (silence where nothing was)."""
        with self._lock:
            out = np.zeros(n, dtype=np.float32)
            if self._origin is None:
                return out
            index = round((at - self._origin) * ASR_RATE)
            lo, hi = max(index, self._written - self._size, 0), min(index + n, self._written)
            if hi > lo:
                self._get(lo, hi, out[lo - index: hi - index])
            return out

    def sounded_since(self, t: float) -> bool:
        return self._last_sound >= t


class Listener:
    """Feed it microphone chunks; it posts `(intent, text)` for each command the person said."""

    def __init__(self, recognizer: RecognizerLike, hearing: SelfHearingFilter,
                 post: Callable[[Intent | None, str], None], reference: ReferenceBuffer | None = None,
                 on_ignored: Callable[[str, str], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 canceller: Canceller | None = None):
        self._recognizer = recognizer
        self._hearing = hearing
        self._post = post
        self._reference = reference
        self._on_ignored = on_ignored
        self._clock = clock
        self._aec = canceller if canceller is not None else open_canceller()
        """The echo canceller: $BEDTIME_STRETCH_AEC's choice, the home-made one when a library cannot load."""
        self._delay: float | None = None
        """Where the canceller's filter starts: the measured echo delay less a margin."""
        self._echo_delay: float | None = None
        """The echo delay last measured."""
        self._drifting = DriftingDelay()
        """The echo delay as it moves with the two clocks' drift, between measurements."""
        self._moved_to: float | None = None
        """An unsure delay measurement away from the aligned one, waiting for a second to agree."""
        self._mic_next: float | None = None
        """Where the next microphone sample falls on the clock, continuing the stream."""
        self._pending_mic = np.zeros(0, dtype=np.float32)
        self._pending_at = 0.0
        self._history: list[tuple[float, np.ndarray]] = []
        self._next_delay_check = 0.0
        self._stream_to_monotonic = 0.0
        """Monotonic time minus the chunks' stream time: where a recognition's words were, on the clock."""
        self._cancelled: deque[tuple[float, float, float]] = deque(maxlen=int(8 * ASR_RATE / self._aec.block))
        """(monotonic time, mic energy, energy after cancelling) of each block the canceller processed."""
        self._dropping = False
        self.dropped_seconds = 0.0
        """Audio dropped because the listener fell behind (BEHIND_SECONDS)."""
        self.energy_in = self.energy_out = 0.0
        """The mic's energy, and what was left of it, over every block the canceller processed."""

    @property
    def echo_delay_ms(self) -> float | None:
        """The echo delay last measured (None: never found, so the canceller never ran)."""
        return None if self._echo_delay is None else round(1000 * self._echo_delay, 1)

    @property
    def echo_removed_db(self) -> float:
        """How much the canceller took out of the mic over the session, while the guide sounded."""
        return float(10 * np.log10((self.energy_in + 1e-12) / (self.energy_out + 1e-12)))

    def feed(self, chunk: AudioChunk, captured_at: float | None = None) -> None:
        """A chunk of 16 kHz mono audio; `captured_at` is the monotonic time of its first sample."""
        now = self._clock()
        at = captured_at if captured_at is not None else now - chunk.seconds
        if self._behind(now - at - chunk.seconds):
            self.dropped_seconds += chunk.seconds
            return
        if self._mic_next is not None and abs(at - self._mic_next) < REANCHOR_SECONDS:
            at = self._mic_next
        self._mic_next = at + chunk.seconds
        self._stream_to_monotonic = at - chunk.timestamp
        with stage("echo cancelling"):
            cleaned = self._cancel_echo(chunk.samples(), at)
        if cleaned is None:
            return
        with stage("endpointing"):
            heard = self._recognizer.feed(AudioChunk.from_samples(cleaned, ASR_RATE, chunk.timestamp))
        for rec in heard:
            if rec.intent is None and rec.text:
                log.info("not a command: %r (%s)", rec.text, rec.reason)
            with stage("own-voice checks"):
                self._judge(rec, self._clock())

    def _behind(self, lag: float) -> bool:
        """Whether to drop a chunk heard `lag` seconds before now (its end)."""
        if not self._dropping and lag > BEHIND_SECONDS:
            log.warning("listening fell %.1f s behind (the CPU is short): skipping audio to catch up", lag)
            self._dropping = True
        elif self._dropping and lag < CAUGHT_UP_SECONDS:
            self._dropping = False
            reset = getattr(self._recognizer, "reset", None)
            if reset is not None:  # an utterance cut by the gap is no utterance
                reset()
        return self._dropping

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
        echoing = self._reference is not None and self._reference.sounded_since(window[0] - MAX_LAG_SECONDS)
        share = self._echo_share(*window) if echoing else 0.0
        log.debug("judging %r (%s): over the guide %s, %.0f dB cancelled, echo share %.2f", rec.text,
                  intent or f"candidate {candidate}", over_guide, cancelled, share)
        if share > ECHO_SHARE_MAX:
            log.info("ignored %r: the guide's own voice (it explains %.0f%% of the sound)", rec.text, 100 * share)
            return
        if cancelled > ECHO_DOMINANT_DB:
            log.info("ignored %r: mostly the guide's own voice (%.0f dB of it cancelled)", rec.text, cancelled)
            return
        margin = getattr(rec, "margin", None)
        if intent is None and candidate in URGENT and over_guide \
                and getattr(rec, "coverage", 0.0) >= BARGE_IN_COVERAGE \
                and (margin is None or margin >= BARGE_IN_MIN_MARGIN):
            # "stop" or "pause" over the guide's voice: what is left of the echo lowers the recognizer's
            # confidence, so an urgent command is taken at a lower bar (the filter still refuses it when
            # the guide itself is saying that word).
            intent = candidate
            log.info("barge-in: %r over the guide (words cover %.2f, %.0f dB cancelled)", rec.text,
                     getattr(rec, "coverage", 0.0), cancelled)
        if intent is None:
            return
        if over_guide and intent not in URGENT and margin is not None and margin < BARGE_IN_MIN_MARGIN:
            # taken by the recognizer, but over the guide's voice and hardly better than ordinary words:
            # echo remains of its sentences look like this. Not for a "stop" or "pause" the recognizer
            # accepted by itself: a person's "stop" over the counts measured +1.9 and was lost three times.
            log.info("ignored %r over the guide: only %+.1f per frame better than common words", rec.text, margin)
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
        with stage("echo delay tracking"):
            self._update_delay(start + usable / ASR_RATE)
        if self._delay is None or not ref.sounded_since(start - MAX_LAG_SECONDS - 1.0):
            return mic
        reference = self._drifted_reference(ref, start, usable)
        cleaned = self._aec.process(mic, reference)
        block = self._aec.block
        for i in range(0, usable, block):
            heard, left = float(np.dot(mic[i:i + block], mic[i:i + block])), \
                float(np.dot(cleaned[i:i + block], cleaned[i:i + block]))
            self._cancelled.append((start + i / ASR_RATE, heard, left))
            self.energy_in += heard
            self.energy_out += left
        return cleaned

    def _drifted_reference(self, ref: ReferenceBuffer, start: float, n: int) -> np.ndarray:
        """The reference for `n` mic samples from `start`, each read at the delay of its own moment: with
        the clocks drifting, between the block's ends the delay moves by a fraction of a sample."""
        if not self._drifting.known or self._drifting.drift == 0.0:
            return ref.read(start - (self._delay or 0.0), n)
        times = start + np.arange(n) / ASR_RATE
        wanted = times - (self._drifting.at(start) - ALIGN_MARGIN_SECONDS) \
            - self._drifting.drift * (times - start)
        first = float(wanted[0]) - 2 / ASR_RATE
        raw = ref.read(first, n + 8)
        positions = (wanted - first) * ASR_RATE
        return np.interp(positions, np.arange(len(raw)), raw).astype(np.float32)

    def _cancelled_db(self, t0: float, t1: float) -> float:
        """How much the echo canceller took out of the mic between monotonic times t0 and t1, in dB."""
        kept = [(m, c) for at, m, c in self._cancelled if t0 <= at <= t1]
        if not kept:
            return 0.0
        return float(10 * np.log10((sum(m for m, _ in kept) + 1e-12) / (sum(c for _, c in kept) + 1e-12)))

    def _echo_share(self, t0: float, t1: float) -> float:
        """How much of what the mic heard between monotonic times t0 and t1 the guide's voice explains.

        Found on the raw microphone against the reference, at the lag this stretch itself shows (and near
        the measured echo delay): it holds while the canceller is still learning or the delay has moved."""
        if self._reference is None or not self._history:
            return 0.0
        start = self._history[0][0]
        heard = np.concatenate([m for _, m in self._history])
        lo, hi = max(0, round((t0 - start) * ASR_RATE)), min(len(heard), round((t1 - start) * ASR_RATE))
        n = hi - lo
        if n < ASR_RATE // 10:
            return 0.0
        mic = heard[lo:hi]
        shown, _, reference = self._echo_lag(mic, start + lo / ASR_RATE)
        lead = int(MAX_LAG_SECONDS * ASR_RATE)
        lags = {shown}
        if self._echo_delay is not None:
            known = round(self._echo_delay * ASR_RATE)
            lags |= set(range(known - 160, known + 161, 32))
        return max(echo_share(mic, reference[lead - lag: lead - lag + n]) for lag in lags if 0 <= lag <= lead)

    def _echo_lag(self, mic: np.ndarray, start: float) -> tuple[int, float, np.ndarray]:
        """How many samples the echo in `mic` (its first sample at monotonic `start`) lags the reference,
        how well they match (0..1), and the reference read from MAX_LAG_SECONDS before `start` on."""
        assert self._reference is not None
        lead = int(MAX_LAG_SECONDS * ASR_RATE)
        reference = self._reference.read(start - MAX_LAG_SECONDS, len(mic) + lead)
        # The mic starts `lead` samples after this reference, and the echo lags by `lag`: the reference
        # leads the mic by lead - lag samples.
        leads_by, peak = estimate_delay(reference, mic, lead)
        return lead - leads_by, peak, reference

    def _remember(self, start: float, mic: np.ndarray) -> None:
        self._history.append((start, mic))
        while self._history and start - self._history[0][0] > 6.0:
            self._history.pop(0)

    def _update_delay(self, now: float) -> None:
        """Every second or so of guide speech, re-measure how far the echo lags the reference, and keep the
        canceller aligned with it: audio stacks move that lag by tens of ms within a session (an underrun,
        a stream restarted), and an echo that arrives before the filter's span is not cancelled at all."""
        ref = self._reference
        if ref is None or now < self._next_delay_check or not ref.sounded_since(now - DELAY_WINDOW_SECONDS):
            return
        self._next_delay_check = now + DELAY_CHECK_SECONDS
        recent = [(at, m) for at, m in self._history if at >= now - DELAY_WINDOW_SECONDS]
        if not recent:
            return
        start = recent[0][0]
        mic = np.concatenate([m for _, m in recent])
        if len(mic) < (DELAY_WINDOW_SECONDS - 0.5) * ASR_RATE:
            return
        lag, peak, _ = self._echo_lag(mic, start)
        delay = lag / ASR_RATE
        measured_at = start + len(mic) / ASR_RATE / 2
        log.debug("echo delay measured %.1f ms (match %.2f)", delay * 1000, peak)
        if peak < AGREE_MATCH or not -0.05 <= delay <= MAX_LAG_SECONDS:
            return
        expected = self._drifting.at(measured_at) if self._drifting.known else None
        if expected is not None and abs(delay - expected) <= self._drifting.tolerance(measured_at):
            self._moved_to = None
            self._drifting.agree(measured_at, delay)
            self._echo_delay = self._drifting.at(now)
            self._delay = max(0.0, self._echo_delay - ALIGN_MARGIN_SECONDS)
            return
        if peak < MOVE_MATCH:
            return
        if self._echo_delay is not None and peak < SURE_MATCH and \
                (self._moved_to is None or abs(delay - self._moved_to) > 0.003):
            # An unsure measurement elsewhere waits for a second to agree: the person talking, or a quiet
            # stretch of the guide, can mislead the correlation, and a wrong alignment lets the echo through.
            self._moved_to = delay
            return
        self._moved_to = None
        # The filter's taps are the room's response from the direct path on; aligned on the new delay, the
        # path moves with it and what the filter learnt stays where it was.
        log.info("echo delay %.1f ms (match %.2f): aligning", delay * 1000, peak)
        self._drifting.align(measured_at, delay)
        self._echo_delay = delay
        self._delay = max(0.0, delay - ALIGN_MARGIN_SECONDS)
