"""One PortAudio output stream kept playing at real time: opened until it flows, reopened when it races or
starves, with PortAudio's clock mapped onto time.monotonic."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from skill.devices import Device, NoDevice
from skill.speaking.stream_health import RACING_LATENCY_MAX, StreamHealth

log = logging.getLogger(__name__)

BLOCK_SECONDS = 0.02
"""Audio per callback. Each callback is a wake-up of PortAudio's thread, the ALSA plugin and Python: at 5 ms
(200 a second) they took 5 % of a core here, more than the audio work; 20 ms still cuts within 100 ms."""
LATENCY_SECONDS = 0.04
"""Output buffering. Lower and the ALSA-over-PulseAudio path underruns and races through the audio when
a microphone stream is open too; higher and "pause" takes longer than 100 ms to be heard."""
STORM_CHECK_SECONDS = 0.3


class OutputStream:
    def __init__(self, sd: Any, device: Device, callback: Callable[..., None], on_stopped: Callable[[], None],
                 health: StreamHealth):
        self._sd = sd
        self.device = device
        self._callback = callback
        self._on_stopped = on_stopped
        self._health = health
        self.latency = LATENCY_SECONDS
        """The buffering asked of the device (it may grant more: `output_latency`)."""
        self.clock_offset = 0.0
        """time.monotonic() minus the stream's clock."""
        self._closing = False
        self._stream: Any = None

    def start(self) -> None:
        """Open the stream and wait until it plays at real time (the callback may run from here on)."""
        self._stream = self._open_flowing()
        self._health.flowing(self.output_latency)

    @property
    def output_latency(self) -> float:
        """Seconds from handing audio to the device to hearing it (as PortAudio reports it)."""
        try:
            return float(self._stream.latency)
        except (AttributeError, TypeError, ValueError):
            return self.latency

    def reopen(self, latency: float) -> None:
        self._health.stopped()
        self._abort(self._stream)
        self.latency = latency
        self._stream = self._open_flowing()
        self._health.flowing(self.output_latency)

    def close(self) -> None:
        self._closing = True
        try:
            self._stream.stop()
            self._stream.close()
        except self._sd.PortAudioError as err:
            log.info("closing the output stream: %s", err)

    def _abort(self, stream: Any) -> None:
        self._closing = True
        with contextlib.suppress(self._sd.PortAudioError):
            stream.abort()
            stream.close()
        self._closing = False

    def _open_flowing(self) -> Any:
        """Open the stream and wait until it plays at real time. Some sound servers hold a new stream for
        a second or two, and the ALSA-over-PulseAudio path sometimes starts in an underrun storm (callbacks
        racing ahead of real time, so phrases would be skipped): then it is opened again, with more
        buffering after four tries."""
        for attempt in range(8):
            stream = self._open()
            self._wait_until_flowing()
            calls, underflows = self._health.callbacks, self._health.underflows
            time.sleep(STORM_CHECK_SECONDS)
            if not self._health.storming(calls, underflows, STORM_CHECK_SECONDS):
                return stream
            log.info("the output stream raced ahead of real time; opening it again")
            self._abort(stream)
            if attempt >= 4:
                self.latency = max(self.latency, min(RACING_LATENCY_MAX, self.latency * 1.6))
        return self._open()

    def _open(self) -> Any:
        sd = self._sd
        try:
            stream = sd.OutputStream(samplerate=self.device.rate, device=self.device.index, channels=1,
                                     dtype="float32", blocksize=int(self.device.rate * BLOCK_SECONDS),
                                     latency=self.latency, callback=self._callback,
                                     finished_callback=self._finished)
            # PortAudio's stream clock and time.monotonic share no origin: measure the offset once.
            self.clock_offset = time.monotonic() - stream.time
            stream.start()
        except sd.PortAudioError as err:
            raise NoDevice(f"cannot open the speaker {self.device.name!r}: {err}") from None
        return stream

    def _wait_until_flowing(self, timeout: float = 4.0) -> None:
        deadline = time.monotonic() + timeout
        previous, steady = self._health.callbacks, 0
        while time.monotonic() < deadline and steady < 5:
            time.sleep(BLOCK_SECONDS)
            steady = steady + 1 if self._health.callbacks > previous else 0
            previous = self._health.callbacks

    def _finished(self) -> None:
        if not self._closing:
            self._on_stopped()
