"""Echo cancellers from well-kept libraries, with the interface of `skill.hearing.echo.EchoCanceller` (a `block`,
and `process(mic, ref)` on equal multiples of it, float32 at 16 kHz), so the listener can use any of them:

- `WebRtcCanceller`: WebRTC's audio processing module (AEC3 with its residual echo suppressor, and its
  noise suppression), through the `pywebrtc-audio` bindings (wheels for x86_64 and aarch64).
- `LiveKitCanceller`: the same WebRTC module through `livekit.rtc.AudioProcessingModule` (a 30 MB native
  FFI library; kept for the comparison, scripts/bench_echo.py).
- `SpeexCanceller`: Speex's MDF echo canceller and its preprocessor's residual echo suppression, through
  ctypes on the system's libspeexdsp (Debian's libspeexdsp1).

`open_canceller` makes the one asked for and wraps it in `SafeCanceller`, which falls back to the home-made
canceller if the library cannot load or fails, or if it diverges (its output louder than the mic): a
session never stops for its echo canceller.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from typing import Protocol

import numpy as np

from skill.hearing.echo import EchoCanceller

log = logging.getLogger(__name__)

RATE = 16000
FRAME = RATE // 100
"""WebRTC's audio processing works on 10 ms frames."""
ENV = "BEDTIME_STRETCH_AEC"
"""Which canceller the listener uses: "home" (the default), "webrtc", "speex" or "livekit"."""
DEFAULT = "home"


class Canceller(Protocol):
    @property
    def block(self) -> int:
        """Samples per process() step (mic and reference come in whole multiples of it)."""

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray: ...

    def shift(self, samples: float) -> None:
        """The delay the listener reads the reference at grew by `samples`: a filter that can, moves with
        it (the libraries track the delay themselves, and ignore it)."""

    def path_lag(self) -> float | None:
        """Where the echo's direct path is in the filter, in samples, while it cancels well; None where it
        cannot tell (a library's filter is hidden)."""


class _FindsItsOwnDelay:
    """A library canceller: it tracks the delay itself and shows no path, so the listener's shift and
    path reading are nothing to it."""

    def shift(self, samples: float) -> None:
        pass

    def path_lag(self) -> float | None:
        return None


def _check(mic: np.ndarray, ref: np.ndarray, block: int) -> None:
    if len(mic) != len(ref) or len(mic) % block:
        raise ValueError("mic and ref must be equal multiples of the block size")


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


class WebRtcCanceller(_FindsItsOwnDelay):
    """AEC3 (and noise suppression) through pywebrtc-audio. The reference comes aligned by the listener
    within a few tens of ms; AEC3's own delay estimator finds the rest and follows drift."""

    name = "webrtc"

    def __init__(self, noise_suppression: bool = True, ns_level: int = 1, block: int = FRAME):
        from pywebrtc_audio import AudioProcessor

        if block % FRAME:
            raise ValueError("block must be a multiple of 10 ms")
        self.block = block
        self._apm = AudioProcessor(sample_rate=RATE, num_channels=1, echo_cancellation=True,
                                   noise_suppression=noise_suppression, ns_level=ns_level, stream_delay_ms=0)

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        _check(mic, ref, self.block)
        mic16, ref16 = _to_int16(mic), _to_int16(ref)
        out = np.empty(len(mic), np.float32)
        for i in range(0, len(mic), FRAME):
            out[i:i + FRAME] = self._apm.process(mic16[i:i + FRAME], ref16[i:i + FRAME]) / 32768.0
        return out


class LiveKitCanceller(_FindsItsOwnDelay):
    """AEC3 (and noise suppression) through livekit.rtc.AudioProcessingModule."""

    name = "livekit"

    def __init__(self, noise_suppression: bool = True, block: int = FRAME):
        from livekit import rtc

        if block % FRAME:
            raise ValueError("block must be a multiple of 10 ms")
        self._rtc = rtc
        self.block = block
        self._apm = rtc.AudioProcessingModule(echo_cancellation=True, noise_suppression=noise_suppression,
                                              high_pass_filter=True)
        self._apm.set_stream_delay_ms(0)

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        _check(mic, ref, self.block)
        mic16, ref16 = _to_int16(mic), _to_int16(ref)
        out = np.empty(len(mic), np.float32)
        frame = self._rtc.AudioFrame
        for i in range(0, len(mic), FRAME):
            far = frame(ref16[i:i + FRAME].tobytes(), RATE, 1, FRAME)
            self._apm.process_reverse_stream(far)
            near = frame(mic16[i:i + FRAME].tobytes(), RATE, 1, FRAME)
            self._apm.set_stream_delay_ms(0)
            self._apm.process_stream(near)
            out[i:i + FRAME] = np.frombuffer(near.data, np.int16) / 32768.0
        return out


_SPEEX_ECHO_SET_SAMPLING_RATE = 24
_SPEEX_PREPROCESS_SET_DENOISE = 0
_SPEEX_PREPROCESS_SET_ECHO_STATE = 24


def _speexdsp() -> ctypes.CDLL:
    name = ctypes.util.find_library("speexdsp") or "libspeexdsp.so.1"
    lib = ctypes.CDLL(name)
    lib.speex_echo_state_init.restype = ctypes.c_void_p
    lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.speex_echo_state_destroy.argtypes = [ctypes.c_void_p]
    lib.speex_echo_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.speex_echo_cancellation.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.speex_preprocess_state_init.restype = ctypes.c_void_p
    lib.speex_preprocess_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.speex_preprocess_state_destroy.argtypes = [ctypes.c_void_p]
    lib.speex_preprocess_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.speex_preprocess_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    return lib


class SpeexCanceller(_FindsItsOwnDelay):
    """Speex's MDF canceller (`taps` long) and its preprocessor's residual echo and noise suppression."""

    name = "speex"

    def __init__(self, block: int = 256, taps: int = 2048, preprocess: bool = True):
        self._lib = lib = _speexdsp()
        self.block = block
        self._echo = lib.speex_echo_state_init(block, taps)
        if not self._echo:
            raise RuntimeError("speex_echo_state_init failed")
        rate = ctypes.c_int(RATE)
        lib.speex_echo_ctl(self._echo, _SPEEX_ECHO_SET_SAMPLING_RATE, ctypes.byref(rate))
        self._pre = None
        if preprocess:
            self._pre = lib.speex_preprocess_state_init(block, RATE)
            lib.speex_preprocess_ctl(self._pre, _SPEEX_PREPROCESS_SET_ECHO_STATE, ctypes.c_void_p(self._echo))
            on = ctypes.c_int(1)
            lib.speex_preprocess_ctl(self._pre, _SPEEX_PREPROCESS_SET_DENOISE, ctypes.byref(on))

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        _check(mic, ref, self.block)
        mic16, ref16 = _to_int16(mic), _to_int16(ref)
        out16 = np.empty(len(mic), np.int16)
        b = self.block
        for i in range(0, len(mic), b):
            rec, play, res = mic16[i:i + b], ref16[i:i + b], out16[i:i + b]
            self._lib.speex_echo_cancellation(self._echo, rec.ctypes.data, play.ctypes.data, res.ctypes.data)
            if self._pre is not None:
                self._lib.speex_preprocess_run(self._pre, res.ctypes.data)
        return out16.astype(np.float32) / 32768.0

    def __del__(self) -> None:
        lib = getattr(self, "_lib", None)
        if lib is None:
            return
        if getattr(self, "_pre", None):
            lib.speex_preprocess_state_destroy(self._pre)
        if getattr(self, "_echo", None):
            lib.speex_echo_state_destroy(self._echo)


class HomeCanceller(EchoCanceller):
    name = "home"


class WebRtcNoNsCanceller(WebRtcCanceller):
    """AEC3 alone: WebRTC's noise suppression delayed the recognizer's end of a command (scripts/bench_echo.py)."""

    name = "webrtc-no-ns"

    def __init__(self, block: int = FRAME):
        super().__init__(noise_suppression=False, block=block)


LIBRARIES = {"webrtc": WebRtcCanceller, "webrtc-no-ns": WebRtcNoNsCanceller, "livekit": LiveKitCanceller,
             "speex": SpeexCanceller}

DIVERGED_RATIO = 2.0
"""Output this much more powerful than the mic (3 dB), sustained, is a canceller adding sound of its own."""
DIVERGED_SECONDS = 0.5


class SafeCanceller:
    """A library canceller that gives way to the home-made one for good if it raises, or diverges (its
    output louder than what the mic heard, for half a second). The block size changes with it: the
    listener reads `block` on every call. The call in which the library fails passes the mic through."""

    def __init__(self, primary: Canceller, fallback: type[EchoCanceller] = HomeCanceller):
        self._primary: Canceller | None = primary
        self._fallback_type = fallback
        self._active: Canceller = primary
        self.name = getattr(primary, "name", type(primary).__name__)
        self._mic_power = 0.0
        self._out_power = 0.0
        self._loud = 0

    @property
    def block(self) -> int:
        return self._active.block

    @property
    def fell_back(self) -> bool:
        return self._primary is None

    def shift(self, samples: float) -> None:
        self._active.shift(samples)

    def path_lag(self) -> float | None:
        return self._active.path_lag()

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        if self._primary is None:
            return self._active.process(mic, ref)
        _check(mic, ref, self._primary.block)  # the caller's mistake raises; anything after is the library's
        try:
            out = self._primary.process(mic, ref)
        except Exception:
            log.exception("the %s echo canceller failed: using the home-made one", self.name)
            self._give_way()
            return np.asarray(mic, np.float32).copy()
        if not np.all(np.isfinite(out)):
            log.warning("the %s echo canceller gave non-finite output: using the home-made one", self.name)
            self._give_way()
            return np.asarray(mic, np.float32).copy()
        b = self._primary.block
        for i in range(0, len(mic), b):
            m, o = mic[i:i + b], out[i:i + b]
            self._mic_power = 0.9 * self._mic_power + 0.1 * float(np.dot(m, m)) / b
            self._out_power = 0.9 * self._out_power + 0.1 * float(np.dot(o, o)) / b
            loud = self._mic_power > 1e-8 and self._out_power > DIVERGED_RATIO * self._mic_power
            self._loud = self._loud + b if loud else 0
        if self._loud >= DIVERGED_SECONDS * RATE:
            log.warning("the %s echo canceller diverged (output louder than the mic): using the home-made one",
                        self.name)
            self._give_way()
            return np.asarray(mic, np.float32).copy()
        return out

    def _give_way(self) -> None:
        self._primary = None
        self._active = self._fallback_type()
        self.name = f"{self.name}->home"


def open_canceller(name: str | None = None) -> Canceller:
    """The canceller `name` (default: $BEDTIME_STRETCH_AEC, else DEFAULT); the home-made one if that is
    "home", unknown, or its library cannot load."""
    name = (name or os.environ.get(ENV) or DEFAULT).lower()
    if name == "home":
        return HomeCanceller()
    kind = LIBRARIES.get(name)
    if kind is None:
        log.warning("unknown echo canceller %r: using the home-made one", name)
        return HomeCanceller()
    try:
        primary = kind()
    except Exception as err:  # ImportError, a missing shared library (OSError), a failed init
        log.warning("the %s echo canceller cannot load (%s): using the home-made one", name, err)
        return HomeCanceller()
    return SafeCanceller(primary)
