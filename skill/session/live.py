"""The hands-free session: speaker and microphone on the default (or named) devices, listening all the
while, not obeying its own voice, and carrying on when a device comes and goes.

Threads: the controller loop (main), the speaker's worker threads, the listener (mic -> echo canceller
-> recognizer -> self-hearing filter -> inbox) and a device watchdog.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, TextIO

import soxr

from skill import stage_clock
from skill.audio import ASR_RATE, AudioChunk
from skill.devices import NoDevice
from skill.hearing.endpointer import StreamRecognizer
from skill.hearing.listener import Listener
from skill.hearing.microphone import IDLE_BLOCK_SECONDS, Microphone
from skill.hearing.recognizer_worker import EngineProcess, open_engine_process
from skill.hearing.reference import ReferenceBuffer
from skill.hearing.self_hearing import PlaybackTracker, SelfHearingFilter
from skill.hearing.tape import Tape, from_environment
from skill.records.bookkeeping import Bookkeeper
from skill.routine.definition import Routine
from skill.session.effects import Chime, Say
from skill.session.loop import LiveInbox
from skill.session.state import State
from skill.session.voice_offer import MissTally
from skill.session.wiring import handling_signals, run_live, run_text_session
from skill.speaking.speaker import LiveSpeaker
from skill.speaking.voice import PhraseCache

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0


@dataclass
class AudioOptions:
    input_device: str | None = None
    output_device: str | None = None
    engine: str = "auto"
    noise: bool = False


class TrackedSpeaker:
    """The live speaker, as the controller sees it: it tells the playback tracker what is said, and it
    can be swapped for a new one when the device comes back."""

    def __init__(self, inner: LiveSpeaker, tracker: PlaybackTracker, tape: Tape | None = None):
        self.inner = inner
        self._tracker = tracker
        self._tape = tape

    def _handed(self, seq: int, text: str) -> None:
        self._tracker.handed(seq, text)
        if self._tape is not None:
            self._tape.mark(time.monotonic(), "handed", seq, text)

    def say(self, say: Say) -> None:
        self._handed(say.seq, say.text)
        self.inner.say(say)

    def chime(self, chime: Chime) -> None:
        self._handed(chime.seq, "")
        self.inner.chime(chime)

    def cut(self) -> None:
        self.inner.cut()

    def change_volume(self, step_db: float) -> float:
        return self.inner.change_volume(step_db)

    def close(self, fade: bool = True) -> None:
        self.inner.close(fade)


class ReferenceWriter:
    """What the speaker played, resampled to 16 kHz as a stream, into the echo canceller's buffer."""

    def __init__(self, buffer: ReferenceBuffer, tape: Tape | None = None):
        self.buffer = buffer
        self._tape = tape
        self._resampler: soxr.ResampleStream | None = None
        self._rate = 0
        self._closed = False

    def close(self) -> None:
        """Free the resampler now (alive when the interpreter goes, it is reported as a leak on stderr)."""
        self._closed = True
        self._resampler = None

    def __call__(self, played: AudioChunk) -> None:
        if self._closed or played.captured_at is None:
            return
        at = played.captured_at
        if played.rate != self._rate:
            self._resampler = soxr.ResampleStream(played.rate, ASR_RATE, 1, dtype="float32")
            self._rate = played.rate
        assert self._resampler is not None
        resampled = self._resampler.resample_chunk(played.samples())
        self.buffer.write(resampled, at)
        if self._tape is not None:
            self._tape.audio("ref", at, resampled)


class LiveSession:
    def __init__(self, routine: Routine, cache: PhraseCache, options: AudioOptions,
                 say_notice: Callable[[str], None]):
        self.routine = routine
        self.cache = cache
        self.options = options
        self.notice = say_notice
        self.inbox = LiveInbox()
        self.tracker = PlaybackTracker()
        self.reference = ReferenceBuffer()
        self.tape = from_environment()
        self._reference_writer = ReferenceWriter(self.reference, self.tape)
        self._stopped = threading.Event()
        self._speaker_lost = threading.Event()
        self._device_pause = False
        self.speaker = TrackedSpeaker(self._open_speaker(), self.tracker, self.tape)
        self.inbox.lead = self.speaker.inner.output_latency
        self.recognizer: StreamRecognizer | None = None
        self.mic: Microphone | None = None
        self.listener: Listener | None = None
        self._listener: threading.Thread | None = None
        self.misses = MissTally()

    def _on_done(self, seq: int) -> None:
        self.tracker.done(seq)
        if self.tape is not None:
            self.tape.mark(time.monotonic(), "done", seq)
        self.inbox.speech_done(seq)

    def _open_speaker(self) -> LiveSpeaker:
        return LiveSpeaker(self._on_done, self.cache, device=self.options.output_device, noise=self.options.noise,
                           on_played=self._reference_writer, on_lost=lambda _: self._speaker_lost.set(),
                           on_gap=self._on_speaker_gap)

    def _on_speaker_gap(self, start: float, end: float) -> None:
        self.reference.mark_gap(start, end)
        if self.tape is not None:
            self.tape.mark(start, "gap", 0, f"{end - start:.4f}")

    def open_microphone(self) -> bool:
        try:
            self.mic = Microphone(self.options.input_device).__enter__()
        except NoDevice as err:
            self.notice(f"No microphone: {err}. The guide will move on by itself; Ctrl-C ends.")
            return False
        if self.recognizer is None:
            self.recognizer = StreamRecognizer(open_engine_process(self.options.engine))
        self._listener = threading.Thread(target=self._listen, name="listener", daemon=True)
        self._listener.start()
        return True

    def _listen(self) -> None:
        assert self.recognizer is not None
        listener = self.listener = Listener(self.recognizer, SelfHearingFilter(self.tracker),
                                            post=self.inbox.heard, reference=self.reference,
                                            on_heard=self.misses.heard)
        while not self._stopped.is_set():
            mic = self.mic
            if mic is not None:
                try:
                    for chunk in mic.chunks():
                        listener.feed(chunk)
                        if self.tape is not None and chunk.captured_at is not None:
                            self.tape.audio("mic", chunk.captured_at, chunk.samples())
                        if self._stopped.is_set():
                            return
                except Exception:  # a listener must never take the session down
                    log.exception("listening failed; starting it again")
                if self._stopped.is_set():
                    return
                self.notice("The microphone went away. Still guiding; plug it back in to talk to me again.")
                self.mic = None
            if self._stopped.wait(RETRY_SECONDS):
                return
            with contextlib.suppress(NoDevice):
                self.mic = Microphone(self.options.input_device).__enter__()
                self.recognizer.reset()
                self.notice("The microphone is back.")

    def _watch_speaker(self) -> None:
        """Pause while the speaker is gone, and carry on when it is back."""
        while True:
            self._speaker_lost.wait()  # (set on stopping too)
            if self._stopped.is_set():
                return
            self._speaker_lost.clear()
            self._device_pause = True
            self.notice("The speaker went away: pausing until it is back.")
            self.inbox.speaker_lost()
            while not self._stopped.wait(RETRY_SECONDS):
                try:
                    self.speaker.inner = self._open_speaker()
                except NoDevice:
                    continue
                self._device_pause = False
                self.notice("The speaker is back: carrying on.")
                self.inbox.speaker_back()
                break

    def run(self, tempo: float | None, events: IO[str] | None, book: Bookkeeper | None,
            stop: threading.Event | None = None) -> State | None:
        """`stop` set (by `serve` on SIGTERM, also one that came while the devices were opening) ends it."""
        threading.Thread(target=self._watch_speaker, name="speaker-watch", daemon=True).start()
        if stop is not None:
            threading.Thread(target=self._end_on, args=(stop,), name="stop-watch", daemon=True).start()
        state: State | None = None
        started, started_cpu = time.monotonic(), time.process_time()
        child_cpu = self._recognizer_cpu()
        loop_cpu = time.thread_time()
        threads_cpu = stage_clock.thread_cpu_seconds() if stage_clock.ENABLED else {}
        stage_clock.reset()
        try:
            state = run_live(self.routine, self.inbox, self.speaker, tempo=tempo, events=events, book=book,
                             stop=stop)
            return state
        finally:
            stage_clock.add("event loop (controller)", time.thread_time() - loop_cpu)
            seconds = time.monotonic() - started
            audio = self._audio_report(seconds)
            if stage_clock.ENABLED:
                stage_clock.write_report({**audio, "process_cpu": time.process_time() - started_cpu,
                                          "recognizer_cpu": self._recognizer_cpu() - child_cpu,
                                          "threads": stage_clock.thread_cpu_since(threads_cpu)})
            if state is None or not state.ended:
                # ended from outside (Ctrl-C, SIGTERM): nothing queued is wanted now, and waiting for it
                # would keep a service manager waiting for seconds
                self.speaker.cut()
            self._stopped.set()
            self._speaker_lost.set()  # (the speaker watcher waits on it)
            self.speaker.close(fade=True)
            self._reference_writer.close()
            if self.mic is not None:
                self.mic.close()
            if self._listener is not None:
                # let it finish the utterance in hand and drop the microphone's resampler before the
                # interpreter goes (a native object still alive then is reported as a leak on stderr)
                self._listener.join(timeout=2.0)
            if self.recognizer is not None and isinstance(self.recognizer.engine, EngineProcess):
                self.recognizer.engine.close()
            if self.tape is not None:
                self.tape.save()
            offer = self.misses.offer()
            if offer is not None:
                self.notice(offer)

    def _recognizer_cpu(self) -> float:
        """CPU seconds the recognizer's child process has used."""
        engine = self.recognizer.engine if self.recognizer is not None else None
        return stage_clock.process_cpu_seconds(engine.pid) if isinstance(engine, EngineProcess) else 0.0

    def _audio_report(self, seconds: float) -> dict[str, object]:
        """How the audio went: the speaker's underruns, the mic's overflows, the echo removed."""
        report = {"seconds": seconds, "underruns": self.speaker.inner.underruns,
                  "voice_gaps": self.speaker.inner.voice_gaps,
                  "mic_overflows": self.mic.overflows if self.mic is not None else 0,
                  "echo_removed_db": round(self.listener.echo_removed_db, 1) if self.listener else 0.0,
                  "echo_removed_db_by_span": [None if db is None else round(db, 1)
                                              for db in self.listener.echo_removed_db_by_span]
                  if self.listener else [],
                  "dropped_seconds": round(self.listener.dropped_seconds, 1) if self.listener else 0.0,
                  "undecoded": self.listener.undecoded if self.listener else 0,
                  "echo_delay_ms": self.listener.echo_delay_ms if self.listener else None,
                  "reference_waits": self.listener.reference_waits if self.listener else 0}
        log.info("audio: %d speaker underruns (%d while it sounded), %d microphone overflows, %.1f dB of echo "
                 "removed, %.1f s of audio dropped to catch up, %d waits for the speaker's reference, in %.0f s",
                 report["underruns"], report["voice_gaps"], report["mic_overflows"], report["echo_removed_db"],
                 report["dropped_seconds"], report["reference_waits"], seconds)
        return report

    def _end_on(self, stop: threading.Event) -> None:
        while not self._stopped.wait(0.1):
            if stop.is_set():
                self.inbox.close()
                return


def run_audio_session(routine: Routine, cache: PhraseCache, options: AudioOptions, *, tempo: float | None = None,
                      events: IO[str] | None = None, out: TextIO | None = None,
                      book: Bookkeeper | None = None, stop: threading.Event | None = None) -> State | None:
    """A session on the speaker and microphone; with no speaker, the terminal session instead."""
    out = out or sys.stdout

    def notice(text: str) -> None:
        print(f"bedtime-stretch: {text}", file=out, flush=True)

    try:
        session = LiveSession(routine, cache, options, notice)
    except NoDevice as err:
        notice(f"No speaker: {err}. Running in the terminal instead: type commands, Ctrl-C ends.")
        return run_text_session(routine, tempo=tempo, events=events, out=out, book=book)
    if session.open_microphone():
        notice(f"Listening on {session.mic.device.name if session.mic else '?'}; "
               f"speaking on {session.speaker.inner.device.name}. Say \"stop\" or press Ctrl-C to end.")
    return session.run(tempo, events, book, stop)


def wait_for_wake_phrase(options: AudioOptions, stop: threading.Event | None = None,
                         notice: Callable[[str], None] | None = None) -> bool:
    """Idle listening for "start stretching" / "bedtime stretches". Cheap: the recognizer only decodes
    when the endpointer hears speech. True when woken; False when the microphone went away or `stop`."""
    from skill.hearing.commands import WAKE_PHRASES
    from skill.hearing.recognizer import open_engine

    # not the personal model: it knows the person's "start", not the longer wake phrases, and would wake
    # the service on a "start" (or any enrolled command) said in passing
    recognizer = StreamRecognizer(open_engine(options.engine, phrases=WAKE_PHRASES, quiet=True, personal=False))
    with Microphone(options.input_device, block_seconds=IDLE_BLOCK_SECONDS) as mic:
        while not mic.lost and (stop is None or not stop.is_set()):
            # chunks() ends on `stop`, or after a second with no audio (a new stream's start, a stall): look again
            for chunk in mic.chunks(timeout=1.0, stop=stop):
                for rec in recognizer.feed(chunk):
                    if rec.intent is not None:
                        if notice:
                            notice(f"heard {rec.text!r}")
                        return True
    return False


@contextlib.contextmanager
def _serve_until_signalled(stop: threading.Event) -> Iterator[threading.Event]:
    """SIGTERM (systemd's stop) and SIGHUP end the service at any moment. While it idles, they set `stop`,
    which the idle listening looks at every chunk; while a session runs, the session's own handler ends
    it and sets `stop`; at any other moment (phrases being prepared, devices opening) nothing would look
    at `stop` soon, so they exit at once. Yields the event that says the service is idle."""
    idle = threading.Event()

    def handle(signum: int, frame: object) -> None:
        stop.set()
        if not idle.is_set():
            raise SystemExit(0)

    with handling_signals(handle):
        yield idle


def serve(routine_name: str | None, voice: str | None, options: AudioOptions, out: TextIO | None = None,
          stop: threading.Event | None = None, sessions: int | None = None) -> None:
    """The bedside service: idle until a wake phrase, run a session, and go back to idle; until `stop` is
    set or a SIGTERM comes."""
    from skill.routine.definition import load_routine
    from skill.speaking.preparing import preparing_in_background

    out = out or sys.stdout
    stop = stop or threading.Event()

    def notice(text: str) -> None:
        print(f"bedtime-stretch: {text}", file=out, flush=True)

    routine = load_routine(routine_name)
    with _serve_until_signalled(stop) as idle, preparing_in_background(routine_name, voice, notice=notice) as cache:
        done = 0
        while not stop.is_set() and (sessions is None or done < sessions):
            notice('idle: say "start stretching" or "bedtime stretches"')
            idle.set()
            try:
                woken = wait_for_wake_phrase(options, stop, notice)
            except NoDevice as err:
                notice(f"no microphone yet ({err}); trying again shortly")
                stop.wait(5 * RETRY_SECONDS)
                continue
            finally:
                idle.clear()
            if woken and not stop.is_set():
                run_audio_session(routine, cache, options, out=out, stop=stop)
                done += 1
