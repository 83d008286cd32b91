"""From microphone chunks to the person's commands: echo cancellation against what the speaker played,
the recognizer, a check of each utterance against that reference (the guide's own voice is ignored), then
the self-hearing filter. Runs on the microphone's thread; posts accepted commands.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from skill.audio import ASR_RATE, AudioChunk
from skill.hearing.commands import URGENT, Intent
from skill.hearing.echo_delay import MAX_LAG_SECONDS, EchoDelay
from skill.hearing.echo_library import Canceller
from skill.hearing.echo_removal import EchoRemover
from skill.hearing.endpointer import HANGOVER_SECONDS, StreamRecognizer
from skill.hearing.recognition import Recognition
from skill.hearing.reference import REANCHOR_SECONDS, ReferenceBuffer
from skill.hearing.self_hearing import SelfHearingFilter
from skill.stage_clock import stage

log = logging.getLogger(__name__)

BARGE_IN_COVERAGE = 0.9
"""While the guide talks, "stop"/"pause" whose words account for this much of the speech are taken, even
though the echo's remains make the recognizer unsure. Not lower: echo remains of the guide's own sentences
came out as "hold on" (0.46) and, once the endpointer handed over only an utterance's loud part, as
"wait" (0.82-0.85) and paused the session by themselves."""
BARGE_IN_MIN_MARGIN = 1.2
"""...and whose phrase explains them this much better than common English words do (per 10 ms frame, where
the engine measures it); every other command over the guide needs the same margin on top of the
recognizer's own acceptance (a "stop" or "pause" it accepted outright does not: the self-hearing filter
guards those, as before every command could barge in). The guide's "And release." once came out as
"pause" at full coverage but +0.2 against common words, and paused the session. The bar was 2.0 against a
grammar of the common words, which 3.2 % of the synthetic commands fell under; the words' language-model
search that replaced it scores them 1.9 per frame better at the median, and 1.2 keeps the same 3.2 % (and
lets fewer non-commands by: 60 % of those the grammar matched, where 2.0 let 64 % by)."""
ECHO_SHARE_MAX = 0.8
"""An utterance whose sound the guide's voice explains more than this of (`echo_share`) is the guide's own.
The guide's echo alone measures 0.95-1; with a person talking over it at its own level, about 0.5; with
the person 6 dB under it, 0.8."""
UNDECODED_SHARE = 0.95
"""An utterance the guide's voice explains this much of is not decoded at all (it would be ignored after,
at ECHO_SHARE_MAX). In a bench_session run: 37 of 43 utterances over the guide measured 0.999-1.000 (its
echo remains: each a decode of the recognizer's, for nothing), the person's "pause" said over it 0.16-0.22."""
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


class RecognizerLike(Protocol):
    """What the listener needs of a recognizer (`recognizer.Recognizer` has more)."""

    def feed(self, chunk: AudioChunk) -> list[Recognition]: ...


class Listener:
    """Feed it microphone chunks; it posts `(intent, text)` for each command the person said."""

    def __init__(self, recognizer: RecognizerLike, hearing: SelfHearingFilter,
                 post: Callable[[Intent | None, str], None], reference: ReferenceBuffer | None = None,
                 on_ignored: Callable[[str, str], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 canceller: Canceller | None = None,
                 on_heard: Callable[[Intent | None, Intent | None], None] | None = None):
        """`on_heard`: (intent, unsure candidate) of every utterance the recognizer judged."""
        self._recognizer = recognizer
        self._on_heard = on_heard
        self._hearing = hearing
        self._post = post
        self._reference = reference
        self._on_ignored = on_ignored
        self._clock = clock
        self._echo = EchoRemover(reference, canceller) if reference is not None else None
        """Takes the guide's voice out of the microphone (none without a reference: a text session)."""
        self._mic_next: float | None = None
        """Where the next microphone sample falls on the clock, continuing the stream."""
        self._stream_to_monotonic = 0.0
        """Monotonic time minus the chunks' stream time: where a recognition's words were, on the clock."""
        self._dropping = False
        self.dropped_seconds = 0.0
        """Audio dropped because the listener fell behind (BEHIND_SECONDS)."""
        self.undecoded = 0
        """Utterances left undecoded: the guide's own voice (UNDECODED_SHARE)."""
        self._endpointer = recognizer if self._echo is not None and isinstance(recognizer, StreamRecognizer) \
            else None
        """The recognizer's endpointer, told what the listener knows of the guide's voice."""
        if self._endpointer is not None:
            self._endpointer.worth_decoding = self._worth_decoding

    @property
    def echo_delay(self) -> EchoDelay | None:
        return self._echo.delay if self._echo is not None else None

    @property
    def canceller(self) -> Canceller | None:
        return self._echo.canceller if self._echo is not None else None

    @property
    def echo_delay_ms(self) -> float | None:
        """The echo delay last measured (None: never found, so the canceller never ran)."""
        found = self._echo.delay.echo_delay if self._echo is not None else None
        return None if found is None else round(1000 * found, 1)

    @property
    def reference_waits(self) -> int:
        """Mic chunks held back for the speaker's reference (EchoRemover.reference_waits)."""
        return self._echo.reference_waits if self._echo is not None else 0

    @property
    def echo_removed_db(self) -> float:
        """How much of the guide's echo the canceller took out over the session (the person's words left out)."""
        return self._echo.tally.removed_db() if self._echo is not None else 0.0

    @property
    def echo_removed_db_by_span(self) -> list[float | None]:
        """The same in the first 5 s, from 5 to 30 s, and after (echo_tally.SPANS)."""
        return self._echo.tally.removed_db_by_span() if self._echo is not None else []

    def feed(self, chunk: AudioChunk) -> None:
        """A chunk of 16 kHz mono audio (heard just now, unless it says when: `captured_at`)."""
        now = self._clock()
        at = chunk.captured_at if chunk.captured_at is not None else now - chunk.seconds
        if self._behind(now - at - chunk.seconds):
            self.dropped_seconds += chunk.seconds
            if self._mic_next is not None:
                # The stream went on: placed anew by the first block after the gap, whose timestamp jitters
                # by tens of ms, the echo seemed to move by that much and the canceller lost it.
                self._mic_next += chunk.seconds
            return
        if self._mic_next is not None and abs(at - self._mic_next) < REANCHOR_SECONDS:
            at = self._mic_next
        self._mic_next = at + chunk.seconds
        self._stream_to_monotonic = at - chunk.timestamp
        samples = chunk.samples()
        with stage("echo cancelling"):
            cleaned = self._echo.cancel(samples, at) if self._echo is not None else samples
        if cleaned is None:
            return
        if self._endpointer is not None and self._reference is not None:
            self._endpointer.echo_present = self._reference.sounded_since(at - MAX_LAG_SECONDS)
        with stage("endpointing"):
            heard = self._recognizer.feed(AudioChunk.from_samples(cleaned, ASR_RATE, chunk.timestamp))
        for rec in heard:
            if rec.intent is None and rec.text:
                log.info("not a command: %r (%s)", rec.text, rec.reason)
            if self._on_heard is not None:
                self._on_heard(rec.intent, rec.candidate)
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

    def _worth_decoding(self, start: float, end: float) -> bool:
        """Whether the utterance between stream times `start` and `end` may be the person's: one the guide's
        voice explains all of is left undecoded (decoding echo remains was most of the recognizer's CPU)."""
        echo = self._echo
        window = (start + self._stream_to_monotonic, end + self._stream_to_monotonic)
        if echo is None or self._reference is None or \
                not self._reference.sounded_since(window[0] - MAX_LAG_SECONDS):
            return True
        with stage("own-voice checks"):
            share = echo.echo_share(*window, enough=UNDECODED_SHARE)
        if share < UNDECODED_SHARE:
            return True
        log.debug("left undecoded: %.1f s the guide's own voice explains %.0f%% of", end - start, 100 * share)
        self.undecoded += 1
        return False

    def _judge(self, rec: Recognition, heard_at: float) -> None:
        intent = rec.intent
        # the words ended a hangover before the recognizer could decide
        ended_at = heard_at - HANGOVER_SECONDS
        duration = rec.end - rec.start
        candidate = rec.candidate
        if intent is None and candidate is None:
            return
        # where the words were (the recognizer may decide well after them when echo residue followed)
        window = (rec.start + self._stream_to_monotonic, rec.end + self._stream_to_monotonic)
        over_guide = bool(self._hearing.tracker.playing_between(*window))
        echo = self._echo
        cancelled = echo.cancelled_db(*window) if echo is not None and over_guide else 0.0
        echoing = self._reference is not None and self._reference.sounded_since(window[0] - MAX_LAG_SECONDS)
        share = echo.echo_share(*window) if echo is not None and echoing else 0.0
        log.debug("judging %r (%s): over the guide %s, %.0f dB cancelled, echo share %.2f", rec.text,
                  intent or f"candidate {candidate}", over_guide, cancelled, share)
        if share > ECHO_SHARE_MAX:
            log.info("ignored %r: the guide's own voice (it explains %.0f%% of the sound)", rec.text, 100 * share)
            return
        if echoing and self._reference is not None \
                and self._reference.gap_between(window[0] - MAX_LAG_SECONDS, window[1]):
            # what the speaker played as it ran dry is not in the reference: neither cancelled nor explained
            # by it, its echo is indistinguishable from the person (under a 10 % CPU quota the virtual
            # devices played part of the guide's "Okay" again, and it was taken for "stop" at 0.92, for
            # "faster" live). Any command then is lost, not only a doubtful one: a person says it again.
            # (Run dry in a long silence, a device has only silence to play again.)
            log.info("ignored %r: the speaker ran dry as it was said, so its echo is unknown", rec.text)
            return
        if cancelled > ECHO_DOMINANT_DB:
            log.info("ignored %r: mostly the guide's own voice (%.0f dB of it cancelled)", rec.text, cancelled)
            return
        if echo is not None:
            echo.tally.person_spoke(*window)
        unfiltered = over_guide and echo is not None and echo.delay.unknown_at(heard_at)
        if unfiltered and (intent or candidate) not in URGENT:
            # the guide's echo is not yet found, or the canceller is still learning it: what it leaves of the
            # guide's own words cannot be told from the person's (the guide's "Say continue to pick up from
            # there" was taken for "softer"). Only "stop" and "pause" are taken then: being wrong costs a pause.
            log.info("ignored %r over the guide: its echo is not yet in hand", rec.text)
            return
        margin = rec.margin
        if intent is None and candidate in URGENT and over_guide \
                and rec.coverage >= BARGE_IN_COVERAGE \
                and (margin is None or margin >= BARGE_IN_MIN_MARGIN):
            # "stop" or "pause" over the guide's voice: what is left of the echo lowers the recognizer's
            # confidence, so an urgent command is taken at a lower bar (the filter still refuses it when
            # the guide itself is saying that word).
            intent = candidate
            log.info("barge-in: %r over the guide (words cover %.2f, %.0f dB cancelled)", rec.text,
                     rec.coverage, cancelled)
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

