"""The virtual audio devices (scripts/virtual-audio) from tests and benchmarks: a speaker whose monitor
records what was played, a microphone fed by playing into `mic_feed`, and a loopback that puts the
speaker into the microphone like a bedside device a foot from its mic."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def available() -> bool:
    if not os.environ.get("PULSE_SERVER") or shutil.which("pactl") is None:
        return False
    return subprocess.run(["pactl", "info"], capture_output=True).returncode == 0


needs_virtual_audio = pytest.mark.skipif(
    not available(), reason="needs the virtual audio devices: run through scripts/test (it starts them)")


def play_into_mic(path: Path | str, volume: float = 1.0) -> subprocess.Popen:
    """Start "saying" a WAV file into the virtual microphone; returns the player process."""
    return subprocess.Popen(["paplay", "--device=mic_feed", f"--volume={int(65536 * volume)}", str(path)])


def record_speaker(path: Path | str) -> subprocess.Popen:
    """Start recording what the virtual speaker plays (16 kHz mono WAV); terminate() to stop."""
    return subprocess.Popen(["parecord", "--device=speaker.monitor", "--file-format=wav", "--rate=16000",
                             "--channels=1", "--format=s16le", str(path)])


def loopbacks_into_mic() -> list[str]:
    """The ids of the loopback modules already putting the speaker into the microphone."""
    modules = subprocess.run(["pactl", "list", "short", "modules"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in modules.splitlines()
            if "module-loopback" in line and "source=speaker.monitor" in line and "sink=mic_feed" in line]


@contextlib.contextmanager
def speaker_into_mic(volume: float = 1.0, latency_ms: int = 60, rate_adjusted: bool = False) -> Iterator[int]:
    """Route the speaker's output into the microphone (PulseAudio module-loopback). Its rate adjustment is
    off unless `rate_adjusted` (adjust_time=0): left on, it slides the echo delay by tens of ms within a
    session, where the echo path of a real bedside device stays put (as two devices on separate clocks do
    not: scripts/make_aec_tapes.py's "adjusting" tape). Refuses to add a second: a killed benchmark once left one
    loaded, and the next runs heard the guide's echo by two paths (3-6 dB of it removed, commands nobody said)."""
    stale = loopbacks_into_mic()
    if stale:
        raise RuntimeError(f"the speaker already loops into the microphone (module {', '.join(stale)}, left by an "
                           f"earlier run?): unload it with `pactl unload-module {stale[0]}`, then run this again")
    out = subprocess.run(["pactl", "load-module", "module-loopback", "source=speaker.monitor", "sink=mic_feed",
                          f"latency_msec={latency_ms}", "source_dont_move=true", "sink_dont_move=true",
                          *([] if rate_adjusted else ["adjust_time=0"])], capture_output=True, text=True, check=True)
    module = int(out.stdout.strip())
    try:
        if volume != 1.0:
            inputs = subprocess.run(["pactl", "list", "short", "sink-inputs"], capture_output=True, text=True).stdout
            for line in inputs.splitlines():
                fields = line.split()
                if len(fields) > 1 and fields[1] == str(module):
                    subprocess.run(["pactl", "set-sink-input-volume", fields[0], f"{int(volume * 100)}%"], check=True)
        yield module
    finally:
        subprocess.run(["pactl", "unload-module", str(module)], capture_output=True)


class MonitorRecorder:
    """Records what a sink plays (its monitor), in this process, with sounddevice. Open the speaker first:
    a new input stream on a monitor gets no audio for a moment, so this waits until it flows steadily."""

    def __init__(self, rate: int = 16000, source: str = "speaker.monitor"):
        import sounddevice as sd

        self.rate = rate
        self._chunks: list[np.ndarray] = []
        self._callbacks = 0
        os.environ["PULSE_SOURCE"] = source
        try:
            self._stream = sd.InputStream(samplerate=rate, channels=1, dtype="float32", blocksize=rate // 100,
                                          device="pulse", callback=self._callback)
        finally:
            del os.environ["PULSE_SOURCE"]

    def _callback(self, indata: np.ndarray, frames: int, timing: Any, status: Any) -> None:
        self._callbacks += 1
        self._chunks.append(indata[:, 0].copy())

    def __enter__(self) -> MonitorRecorder:
        self._stream.start()
        deadline, previous, steady = time.monotonic() + 5, 0, 0
        while time.monotonic() < deadline and steady < 10:
            time.sleep(0.01)
            steady = steady + 1 if self._callbacks > previous else 0
            previous = self._callbacks
        self._chunks.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.stop()
        self._stream.close()

    def audio(self) -> np.ndarray:
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)


class MicFeed:
    """Says clips into the virtual microphone from one output stream held open in this process, and knows
    when each clip's speech left the stream (no player process starting up in between, so a latency
    measured from there is the listener's own)."""

    def __init__(self, rate: int = 16000, sink: str = "mic_feed", room_db: float = -60.0):
        """`room_db`: a steady room tone (dBFS) under everything, as a real microphone always hears."""
        import sounddevice as sd

        self.rate = rate
        self._room = 10 ** (room_db / 20)
        self._rng = np.random.default_rng(0)
        self._lock = threading.Lock()
        self._clip = np.zeros(0, np.float32)
        self._pos = 0
        self._speech_end = 0
        self._ended_at: float | None = None
        self._done = threading.Event()
        os.environ["PULSE_SINK"] = sink
        try:
            self._stream = sd.OutputStream(samplerate=rate, channels=1, dtype="float32", blocksize=rate // 50,
                                           latency=0.05, device="pulse", callback=self._callback)
        finally:
            del os.environ["PULSE_SINK"]

    def _callback(self, outdata: np.ndarray, frames: int, timing: Any, status: Any) -> None:
        now = time.monotonic()
        ahead = timing.outputBufferDacTime - timing.currentTime
        if not 0 <= ahead < 1:
            ahead = self._stream.latency
        with self._lock:
            block = self._clip[self._pos: self._pos + frames]
            outdata[:, 0] = self._rng.normal(0, self._room, frames)
            outdata[: len(block), 0] += block
            if self._ended_at is None and self._pos <= self._speech_end < self._pos + frames:
                self._ended_at = now + ahead + (self._speech_end - self._pos) / self.rate
            self._pos += frames
            if len(self._clip) and self._pos >= len(self._clip):
                self._clip = np.zeros(0, np.float32)
                self._done.set()

    def __enter__(self) -> MicFeed:
        self._stream.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.stop()
        self._stream.close()

    def say(self, samples: np.ndarray, speech_seconds: float) -> float:
        """Play `samples` (at this feed's rate) into the mic; returns the monotonic time its speech ended,
        `speech_seconds` in."""
        with self._lock:
            self._clip, self._pos = samples.astype(np.float32), 0
            self._speech_end = int(speech_seconds * self.rate)
            self._ended_at = None
            self._done.clear()
        self._done.wait(timeout=len(samples) / self.rate + 5)
        with self._lock:
            assert self._ended_at is not None, "the feed stream did not play the clip"
            return self._ended_at
