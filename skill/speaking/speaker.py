"""The speaker: one continuous output stream, fed phrase by phrase, that can go silent at once.

A worker thread turns each Say into shaped audio at the device's rate (from the phrase cache, ahead of
time); the PortAudio callback only copies samples, applies the gain ramp and fades, and hands finished
sequence numbers and the played audio (the echo canceller's reference) to other threads.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from skill.audio import SoftNoise, chime, resample
from skill.devices import Device, NoDevice, find_output_device, sounddevice
from skill.session.effects import CHIME_SECONDS, VOLUME_MAX_DB, VOLUME_MIN_DB, Chime, Say
from skill.speaking.voice import PhraseCache, rate_for_tempo
from skill.stage_clock import stage

log = logging.getLogger(__name__)

CUT_FADE_SECONDS = 0.005
END_FADE_SECONDS = 2.5
BLOCK_SECONDS = 0.02
"""Audio per callback. Each callback is a wake-up of PortAudio's thread, the ALSA plugin and Python: at 5 ms
(200 a second) they took 5 % of a core here, more than the audio work; 20 ms still cuts within 100 ms."""
LATENCY_SECONDS = 0.05
"""Output buffering. Lower and the ALSA-over-PulseAudio path underruns and races through the audio when
a microphone stream is open too; higher and "pause" takes longer than 100 ms to be heard."""

STARVED_UNDERRUNS = 3
STARVED_WINDOW_SECONDS = 10
STARVED_LATENCY_SECONDS = 0.2
"""This many gaps in the voice within the window, and the stream is reopened with twice the buffering, up to
this much: a "pause" is then heard up to that much later, but the voice no longer breaks up (under a 10 %
CPU quota here: 232 gaps in 200 s at 60 ms of buffering, 19 with this). Not more: at 400 ms the echo came
later than the listener looks for it (MAX_LAG_SECONDS) and the canceller never found it."""
PLAYED_BATCH_SECONDS = 0.04
"""The played audio goes to `on_played` this much at a time: one wake-up of its thread per two callbacks.
The echo canceller needs it only when the echo reaches the microphone, 100 ms or more after the callback."""

Played = Callable[[np.ndarray, int, float], None]
"""(mono samples, rate, monotonic time the first sample reaches the speaker)."""


@dataclass
class _Sound:
    seq: int
    samples: np.ndarray
    generation: int
    text: str
    pos: int = 0


class LiveSpeaker:
    """Implements the Speaker protocol on a real output device."""

    def __init__(self, on_done: Callable[[int], None], cache: PhraseCache, *, device: str | int | None = None,
                 gain_db: float = 0.0, noise: bool = False, on_played: Played | None = None,
                 on_lost: Callable[[str], None] | None = None):
        self._sd = sounddevice()
        self._on_done = on_done
        self._cache = cache
        self._on_played = on_played
        self._on_lost = on_lost
        self.device: Device = find_output_device(device)
        self.rate = self.device.rate
        self._gain_db = float(np.clip(gain_db, VOLUME_MIN_DB, VOLUME_MAX_DB))
        self._gain_now = 10 ** (self._gain_db / 20)
        self._noise = SoftNoise(self.rate) if noise else None
        self._chime = chime(self.rate, CHIME_SECONDS)
        self._resampled: collections.OrderedDict[tuple[str, str], np.ndarray] = collections.OrderedDict()
        self._requests: queue.Queue[tuple[int, Say | Chime] | None] = queue.Queue()
        self._sounds: collections.deque[_Sound] = collections.deque()
        self._current: _Sound | None = None
        self._generation = 0
        self._highest_seq = 0
        self._cut_pending = False
        self._fade_out: int | None = None
        self._lock = threading.Lock()
        self._done: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._played: queue.SimpleQueue[tuple[np.ndarray, float] | None] = queue.SimpleQueue()
        self._callback_failed = False
        self._closing = False
        self.lost = False
        self._threads = [threading.Thread(target=self._prepare_loop, name="speaker-prepare", daemon=True),
                         threading.Thread(target=self._done_loop, name="speaker-done", daemon=True),
                         threading.Thread(target=self._watch_loop, name="speaker-watch", daemon=True)]
        if on_played is not None:
            self._threads.append(threading.Thread(target=self._played_loop, name="speaker-played", daemon=True))
        self._callbacks = 0
        self._underflows = 0
        self.underruns = 0
        """Gaps in the voice once the stream played at real time: an underflow PortAudio reported, or a
        callback that came later than the buffered audio lasts (the ALSA pulse plugin plays silence then
        without reporting anything). The start-up storms `_open_flowing` rides out are not counted."""
        self._flowing = False
        self._last_call = 0.0
        self._starved_after = 1.0
        self._latency = LATENCY_SECONDS
        self._stream = self._open_flowing()
        self._now_flowing()
        for t in self._threads:
            t.start()

    # ---- the Speaker protocol ---------------------------------------------------------------------

    def say(self, say: Say) -> None:
        self._queue(say)

    def chime(self, chime: Chime) -> None:
        self._queue(chime)

    def _queue(self, item: Say | Chime) -> None:
        with self._lock:
            self._highest_seq = max(self._highest_seq, item.seq)
            generation = self._generation
        self._requests.put((generation, item))

    def cut(self) -> None:
        """Silence within a block or two: the callback fades out what plays; everything queued is dropped."""
        with self._lock:
            self._generation += 1
            self._sounds.clear()
            self._cut_pending = True
            highest = self._highest_seq
        if highest:
            self._done.put(highest)

    def change_volume(self, step_db: float) -> float:
        with self._lock:
            self._gain_db = float(np.clip(self._gain_db + step_db, VOLUME_MIN_DB, VOLUME_MAX_DB))
            return self._gain_db

    @property
    def output_latency(self) -> float:
        """Seconds from handing audio to the device to hearing it (as PortAudio reports it)."""
        try:
            return float(self._stream.latency)
        except (AttributeError, TypeError, ValueError):
            return self._latency

    @property
    def gain_db(self) -> float:
        return self._gain_db

    def busy(self) -> bool:
        with self._lock:
            return self._current is not None or bool(self._sounds) or not self._requests.empty()

    def close(self, fade: bool = True, timeout: float = 60.0) -> None:
        """Let what is queued finish, fade out slowly, release the device."""
        deadline = time.monotonic() + timeout
        while self.busy() and time.monotonic() < deadline and not self.lost:
            time.sleep(0.02)
        if fade and not self.lost:
            with self._lock:
                self._fade_out = int(END_FADE_SECONDS * self.rate) if self._noise is not None else int(0.05 * self.rate)
            time.sleep((END_FADE_SECONDS if self._noise is not None else 0.05) + 0.1)
        self._closing = True
        self._requests.put(None)
        self._done.put(None)
        self._played.put(None)
        try:
            self._stream.stop()
            self._stream.close()
        except self._sd.PortAudioError as err:
            log.info("closing the output stream: %s", err)

    # ---- threads ----------------------------------------------------------------------------------

    def _open_flowing(self) -> Any:
        """Open the stream and wait until it plays at real time. Some sound servers hold a new stream for
        a second or two, and the ALSA-over-PulseAudio path sometimes starts in an underrun storm (callbacks
        racing ahead of real time, so phrases would be skipped): then it is opened again, with more
        buffering after two tries."""
        for attempt in range(8):
            stream = self._open()
            self._wait_until_flowing()
            if not self._storming(stream):
                return stream
            log.info("the output stream raced ahead of real time; opening it again")
            self._closing = True
            stream.abort()
            stream.close()
            self._closing = False
            if attempt >= 4:
                self._latency = max(self._latency, min(0.2, self._latency * 1.6))
        return self._open()

    def _now_flowing(self) -> None:
        # callbacks come every BLOCK_SECONDS (20.0 ms at p50, 21.7 at p99 here); one that comes after the
        # buffered audio ran out means a gap was heard
        self._starved_after = self.output_latency + BLOCK_SECONDS
        self._last_call = 0.0
        self._flowing = True

    def _storming(self, stream: Any, seconds: float = 0.3) -> bool:
        calls, under = self._callbacks, self._underflows
        time.sleep(seconds)
        expected = seconds / BLOCK_SECONDS
        return self._callbacks - calls > 2 * expected or self._underflows - under > 3

    def _open(self) -> Any:
        sd = self._sd
        try:
            stream = sd.OutputStream(samplerate=self.rate, device=self.device.index, channels=1, dtype="float32",
                                     blocksize=int(self.rate * BLOCK_SECONDS), latency=self._latency,
                                     callback=self._callback, finished_callback=self._finished)
            # PortAudio's stream clock and time.monotonic share no origin: measure the offset once.
            self._clock_offset = time.monotonic() - stream.time
            stream.start()
        except sd.PortAudioError as err:
            raise NoDevice(f"cannot open the speaker {self.device.name!r}: {err}") from None
        return stream

    def _wait_until_flowing(self, timeout: float = 4.0) -> None:
        deadline = time.monotonic() + timeout
        previous, steady = self._callbacks, 0
        while time.monotonic() < deadline and steady < 5:
            time.sleep(BLOCK_SECONDS)
            steady = steady + 1 if self._callbacks > previous else 0
            previous = self._callbacks

    def _audio_for(self, item: Say | Chime) -> tuple[np.ndarray, str]:
        if isinstance(item, Chime):
            return self._chime, "~ chime ~"
        key = (item.text, rate_for_tempo(item.tempo))
        samples = self._resampled.get(key)
        if samples is None:
            key = (item.text, self._cache.best_rate(*key))
            samples = self._resampled.get(key)
        if samples is None:
            raw, sr = self._cache.get(*key)
            samples = resample(raw, sr, self.rate)
            self._resampled[key] = samples
            if len(self._resampled) > 400:
                self._resampled.popitem(last=False)
        else:
            self._resampled.move_to_end(key)
        return samples, item.text if isinstance(item, Say) else ""

    def _prepare_loop(self) -> None:
        while (request := self._requests.get()) is not None:
            generation, item = request
            with self._lock:
                stale = generation != self._generation
            if stale:
                continue
            try:
                with stage("phrase resampling"):
                    samples, text = self._audio_for(item)
            except Exception:
                log.exception("could not prepare %r; skipping it", item)
                self._done.put(item.seq)
                continue
            with self._lock:
                if generation == self._generation:
                    self._sounds.append(_Sound(item.seq, samples, generation, text))

    def _watch_loop(self) -> None:
        """Reopen the stream if it ever races ahead of real time for two seconds running, or with more
        buffering if the voice keeps breaking up (a CPU too short to run the callback in time)."""
        strikes = 0
        recent: collections.deque[int] = collections.deque(maxlen=STARVED_WINDOW_SECONDS)
        while not self._closing and not self.lost:
            calls, underruns = self._callbacks, self.underruns
            time.sleep(1.0)
            if self._closing:
                return
            recent.append(self.underruns - underruns)
            strikes = strikes + 1 if self._callbacks - calls > 2.0 / BLOCK_SECONDS else 0
            if strikes >= 2:
                log.warning("the output stream raced ahead of real time; reopening it")
                self._reopen(min(0.2, self._latency * 1.6))
                strikes = 0
            elif sum(recent) >= STARVED_UNDERRUNS and self._latency < STARVED_LATENCY_SECONDS:
                latency = min(STARVED_LATENCY_SECONDS, self._latency * 2)
                log.warning("the voice broke up %d times in %d s (the CPU is short): buffering %.0f ms of it",
                            sum(recent), len(recent), 1000 * latency)
                self._reopen(latency)
                recent.clear()

    def _reopen(self, latency: float) -> None:
        self._flowing = False
        old = self._stream
        self._closing = True
        with contextlib.suppress(self._sd.PortAudioError):
            old.abort()
            old.close()
        self._closing = False
        self._latency = latency
        self._stream = self._open_flowing()
        self._now_flowing()

    def _done_loop(self) -> None:
        while (seq := self._done.get()) is not None:
            try:
                self._on_done(seq)
            except Exception:
                log.exception("on_done failed")

    def _played_loop(self) -> None:
        assert self._on_played is not None
        while (item := self._played.get()) is not None:
            time.sleep(PLAYED_BATCH_SECONDS)
            batch = [item]
            with contextlib.suppress(queue.Empty):
                while (item := self._played.get_nowait()) is not None:
                    batch.append(item)
            try:
                with stage("echo reference (resampling, buffering)"):
                    for samples, at in self._runs(batch):
                        self._on_played(samples, self.rate, at)
            except Exception:
                log.exception("on_played failed")
            if item is None:
                return

    def _runs(self, batch: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
        """Blocks that follow each other on the clock, joined (a reopened stream starts a new run). Their
        timestamps jitter by tens of ms, which the echo canceller's buffer smooths over anyway (it moves a
        block only for a 200 ms jump), so a block within 100 ms of where the last ended continues it."""
        runs: list[tuple[list[np.ndarray], float, float]] = []
        for samples, at in batch:
            if runs and abs(at - runs[-1][2]) < 0.1:
                runs[-1][0].append(samples)
                runs[-1] = (runs[-1][0], runs[-1][1], at + len(samples) / self.rate)
            else:
                runs.append(([samples], at, at + len(samples) / self.rate))
        return [(np.concatenate(blocks), at) for blocks, at, _ in runs]

    def _finished(self) -> None:
        if not self._closing:
            self.lost = True
            log.warning("the speaker stream stopped")
            if self._on_lost is not None:
                self._on_lost("speaker")

    # ---- the audio callback: copy, gain, fade; never raises ------------------------------------------

    def _callback(self, outdata: np.ndarray, frames: int, timing: Any, status: Any) -> None:
        with stage("mixing and playback (audio callback)"):
            self._play(outdata, frames, timing, status)

    def _play(self, outdata: np.ndarray, frames: int, timing: Any, status: Any) -> None:
        self._callbacks += 1
        now = time.monotonic()
        late = self._flowing and self._last_call > 0 and now - self._last_call > self._starved_after
        self._last_call = now
        if status.output_underflow:
            self._underflows += 1
        if self._flowing and (status.output_underflow or late):
            self.underruns += 1
        try:
            out = self._fill(frames)
            outdata[:, 0] = out
            if self._on_played is not None:
                self._played.put((out.copy(), timing.outputBufferDacTime + self._clock_offset))
        except Exception:
            outdata.fill(0)
            if not self._callback_failed:
                self._callback_failed = True
                log.exception("error in the audio callback; playing silence")

    def _fill(self, frames: int) -> np.ndarray:
        out = np.zeros(frames, np.float32)
        finished: list[int] = []
        with self._lock:
            cut, self._cut_pending = self._cut_pending, False
            if cut and self._current is not None:
                n = min(frames, int(CUT_FADE_SECONDS * self.rate))
                cur = self._current
                tail = cur.samples[cur.pos: cur.pos + n]
                out[: len(tail)] = tail * np.linspace(1.0, 0.0, len(tail), dtype=np.float32)
                self._current = None
                filled = frames
            else:
                filled = 0
            while filled < frames:
                if self._current is None:
                    if not self._sounds:
                        break
                    self._current = self._sounds.popleft()
                cur = self._current
                take = min(frames - filled, len(cur.samples) - cur.pos)
                out[filled: filled + take] = cur.samples[cur.pos: cur.pos + take]
                cur.pos += take
                filled += take
                if cur.pos >= len(cur.samples):
                    finished.append(cur.seq)
                    self._current = None
            target = 10 ** (self._gain_db / 20)
            fade_out = self._fade_out
        if target != self._gain_now:
            out *= np.linspace(self._gain_now, target, frames, dtype=np.float32)
            self._gain_now = target
        elif target != 1.0:
            out *= np.float32(target)
        if self._noise is not None:
            out += self._noise.next(frames)
        if fade_out is not None:
            ramp = np.clip((fade_out - np.arange(frames)) / max(1, int(END_FADE_SECONDS * self.rate)), 0, 1)
            out *= ramp.astype(np.float32)
            with self._lock:
                self._fade_out = max(0, fade_out - frames)
        # A soft ceiling instead of hard clipping, for the loudest setting on the loudest phrase.
        np.clip(out, -0.98, 0.98, out=out)
        for seq in finished:
            self._done.put(seq)
        return out
