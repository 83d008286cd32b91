"""The speaker: one continuous output stream, fed phrase by phrase, that can go silent at once.

A worker thread turns each Say into audio at the device's rate (`PhraseAudio`, ahead of time) and queues
it in the `Mixer`; the PortAudio callback only asks the mixer for each block, tells `StreamHealth` when it
ran, and hands the played audio (the echo canceller's reference) to the `PlayedRelay`'s thread. A watcher
thread reopens the `OutputStream` when `StreamHealth` says it races or starves.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from skill.devices import Device, find_output_device, sounddevice
from skill.session.effects import Chime, Say
from skill.speaking.mixer import END_FADE_SECONDS, Mixer
from skill.speaking.output_stream import BLOCK_SECONDS, OutputStream
from skill.speaking.phrase_audio import PhraseAudio
from skill.speaking.played_relay import Played, PlayedRelay
from skill.speaking.stream_health import RACING_LATENCY_MAX, STARVED_LATENCY_SECONDS, StreamHealth, Verdict
from skill.speaking.voice import PhraseCache
from skill.stage_clock import stage

log = logging.getLogger(__name__)

QUICK_FADE_SECONDS = 0.05
"""The fade at the end without room noise: just enough not to click."""


class LiveSpeaker:
    """Implements the Speaker protocol on a real output device."""

    def __init__(self, on_done: Callable[[int], None], cache: PhraseCache, *, device: str | int | None = None,
                 gain_db: float = 0.0, noise: bool = False, on_played: Played | None = None,
                 on_lost: Callable[[str], None] | None = None,
                 on_gap: Callable[[float, float], None] | None = None):
        """`on_gap`: told (from, to), monotonic, of each stretch in which the device ran dry."""
        self._sd = sounddevice()
        self._on_done = on_done
        self._on_lost = on_lost
        self.device: Device = find_output_device(device)
        self.rate = self.device.rate
        self.mixer = Mixer(self.rate, gain_db, noise)
        self._audio = PhraseAudio(cache, self.rate)
        self._relay = PlayedRelay(on_played, self.rate) if on_played is not None else None
        self.health = StreamHealth(BLOCK_SECONDS)
        self.health.on_gap = on_gap
        self._requests: queue.Queue[tuple[int, Say | Chime] | None] = queue.Queue()
        self._unprepared = 0
        self._prepared = threading.Condition()
        self._done: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._callback_failed = False
        self._sounding = False
        """Whether the last block handed to the device had sound in it (a gap after it would be heard)."""
        self._closed = threading.Event()
        self.lost = False
        self._threads = [threading.Thread(target=self._prepare_loop, name="speaker-prepare", daemon=True),
                         threading.Thread(target=self._done_loop, name="speaker-done", daemon=True),
                         threading.Thread(target=self._watch_loop, name="speaker-watch", daemon=True)]
        self._out = OutputStream(self._sd, self.device, self._callback, self._stopped, self.health)
        self._out.start()
        for t in self._threads:
            t.start()
        if self._relay is not None:
            self._relay.start()

    # ---- the Speaker protocol ---------------------------------------------------------------------

    def say(self, say: Say) -> None:
        self._queue(say)

    def chime(self, chime: Chime) -> None:
        self._queue(chime)

    def _queue(self, item: Say | Chime) -> None:
        generation = self.mixer.queued(item.seq)
        with self._prepared:
            self._unprepared += 1
        self._requests.put((generation, item))

    def cut(self) -> None:
        """Silence within a block or two: the callback fades out what plays; everything queued is dropped."""
        highest = self.mixer.cut()
        if highest:
            self._done.put(highest)

    def change_volume(self, step_db: float) -> float:
        return self.mixer.change_volume(step_db)

    @property
    def output_latency(self) -> float:
        """Seconds from handing audio to the device to hearing it (as PortAudio reports it)."""
        return self._out.output_latency

    @property
    def gain_db(self) -> float:
        return self.mixer.gain_db

    @property
    def underruns(self) -> int:
        return self.health.underruns

    @property
    def voice_gaps(self) -> int:
        return self.health.voice_gaps

    def busy(self) -> bool:
        with self._prepared:
            unprepared = self._unprepared
        return bool(unprepared) or self.mixer.playing()

    def close(self, fade: bool = True, timeout: float = 60.0) -> None:
        """Let what is queued finish, fade out slowly, release the device."""
        deadline = time.monotonic() + timeout
        with self._prepared:
            self._prepared.wait_for(lambda: not self._unprepared or self.lost, timeout)
        if not self.lost:
            self.mixer.wait_until_drained(max(0.0, deadline - time.monotonic()))
        if fade and not self.lost:
            seconds = END_FADE_SECONDS if self.mixer.has_noise else QUICK_FADE_SECONDS
            self.mixer.fade_out(seconds)
            time.sleep(seconds + 0.1)
        self._closed.set()
        self._requests.put(None)
        self._done.put(None)
        if self._relay is not None:
            self._relay.close()
        self._out.close()

    def _stopped(self) -> None:
        """The stream stopped by itself: the device went away."""
        self.lost = True
        with self._prepared:
            self._prepared.notify_all()
        self.mixer.release_waiters()
        log.warning("the speaker stream stopped")
        if self._on_lost is not None:
            self._on_lost("speaker")

    # ---- threads ----------------------------------------------------------------------------------

    def _prepare_loop(self) -> None:
        while (request := self._requests.get()) is not None:
            generation, item = request
            try:
                if not self.mixer.stale(generation):
                    with stage("phrase resampling"):
                        samples = self._audio(item)
                    self.mixer.add(item.seq, samples, generation)
            except Exception:
                log.exception("could not prepare %r; skipping it", item)
                self._done.put(item.seq)
            finally:
                with self._prepared:
                    self._unprepared -= 1
                    self._prepared.notify_all()

    def _watch_loop(self) -> None:
        """Reopen the stream if it ever races ahead of real time for two seconds running, or with more
        buffering if the voice keeps breaking up (a CPU too short to run the callback in time)."""
        while not self._closed.wait(1.0) and not self.lost:
            latency = self._out.latency
            verdict = self.health.second_passed(latency)
            if verdict is Verdict.RACING:
                log.warning("the output stream raced ahead of real time; reopening it")
                self._out.reopen(min(RACING_LATENCY_MAX, latency * 1.6))
            elif verdict is Verdict.STARVED:
                more = min(STARVED_LATENCY_SECONDS, latency * 2)
                gaps, near, seconds = self.health.recent_gaps()
                log.warning("the voice broke up %d times and nearly %d times in %d s (the CPU is short): "
                            "buffering %.0f ms of it", gaps, near, seconds, 1000 * more)
                self._out.reopen(more)
                self.health.forget_gaps()

    def _done_loop(self) -> None:
        while (seq := self._done.get()) is not None:
            try:
                self._on_done(seq)
            except Exception:
                log.exception("on_done failed")

    # ---- the audio callback: copy, gain, fade; never raises ------------------------------------------

    def _callback(self, outdata: np.ndarray, frames: int, timing: Any, status: Any) -> None:
        with stage("mixing and playback (audio callback)"):
            self.health.callback(time.monotonic(), bool(status.output_underflow), self._sounding)
            try:
                out, finished = self.mixer.fill(frames)
                outdata[:, 0] = out
                self._sounding = bool(out.any())
                if self._relay is not None:
                    self._relay.put(out, timing.outputBufferDacTime + self._out.clock_offset)
                for seq in finished:
                    self._done.put(seq)
            except Exception:
                outdata.fill(0)
                if not self._callback_failed:
                    self._callback_failed = True
                    log.exception("error in the audio callback; playing silence")
