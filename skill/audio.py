"""Audio as small typed values: format, chunks, WAV in/out, mono and resampling.

Samples inside the program are float32 numpy arrays in [-1, 1]; bytes appear only at the edges
(WAV files, 16-bit PCM for recognizers).
"""

from __future__ import annotations

import os
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

ASR_RATE = 16_000
"""Hz: what every recognizer is fed."""
FRAME = 320
"""20 ms at 16 kHz: the frame for levels (the endpointer's, the noise reducer's)."""


@dataclass(frozen=True)
class AudioFormat:
    rate: int
    """Sample rate, Hz."""
    width: int = 2
    """Bytes per sample (2 = 16-bit signed)."""
    channels: int = 1
    """Interleaved channels."""


class AudioChunk:
    """A piece of mono audio, as float32 samples: a live stream's chunks pass from the microphone through
    the echo canceller to the endpointer 50 times a second, and a float -> 16-bit bytes -> float round trip
    at every hand-over cost more than the hand-over itself. Bytes only where asked for (`audio`)."""

    __slots__ = ("_samples", "captured_at", "rate", "timestamp")
    width = 2
    """Bytes per sample of `audio`."""
    channels = 1

    def __init__(self, rate: int, samples: np.ndarray, timestamp: float = 0.0, captured_at: float | None = None):
        self.rate = rate
        """Sample rate, Hz."""
        self._samples = samples
        self.timestamp = timestamp
        """Seconds, on whatever clock produced it (stream time for microphones)."""
        self.captured_at = captured_at
        """The monotonic time its first sample was heard (microphones) or played (speakers), where known."""

    @property
    def format(self) -> AudioFormat:
        return AudioFormat(self.rate, self.width, self.channels)

    @property
    def frames(self) -> int:
        return len(self._samples)

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    @property
    def end(self) -> float:
        """Where the chunk ends on its `timestamp`'s clock: when what it brings can first be acted on."""
        return self.timestamp + self.seconds

    @property
    def audio(self) -> bytes:
        """Raw little-endian 16-bit PCM."""
        return float_to_pcm16(self._samples)

    def samples(self) -> np.ndarray:
        """Mono float32 samples in [-1, 1] (read-only: chunks share them)."""
        return self._samples

    @classmethod
    def from_samples(cls, samples: np.ndarray, rate: int, timestamp: float = 0.0,
                     captured_at: float | None = None) -> AudioChunk:
        """Clipped to [-1, 1] as 16-bit PCM would be (and copied: the caller may reuse its buffer)."""
        clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 32767 / 32768)
        clipped.flags.writeable = False
        return cls(rate, clipped, timestamp, captured_at)

    @classmethod
    def from_pcm16(cls, audio: bytes, rate: int, channels: int = 1, timestamp: float = 0.0) -> AudioChunk:
        """16-bit little-endian PCM (channels averaged)."""
        pcm = np.frombuffer(audio, dtype="<i2").astype(np.float32) / 32768.0
        if channels > 1:
            pcm = pcm.reshape(-1, channels).mean(axis=1)
        pcm.flags.writeable = False
        return cls(rate, pcm, timestamp)


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float32 in [-1, 1] -> 16-bit little-endian PCM bytes (clipped, never wrapped)."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 32767 / 32768)
    return (np.round(clipped * 32768.0)).astype("<i2").tobytes()


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames,) or (frames, channels) -> (frames,) float32."""
    samples = np.asarray(samples, dtype=np.float32)
    return samples.mean(axis=1) if samples.ndim == 2 else samples


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality sample-rate conversion of mono float32 audio."""
    if from_rate == to_rate or len(samples) == 0:
        return np.asarray(samples, dtype=np.float32)
    return soxr.resample(np.asarray(samples, dtype=np.float32), from_rate, to_rate).astype(np.float32)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A WAV file as mono float32 samples and its rate: 8/16/24/32-bit integer or 32/64-bit float PCM,
    plain or extensible, any channel count (skill.wav_reader)."""
    from skill.wav_reader import read_wav as read

    return read(path)


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Mono float32 samples -> 16-bit WAV, written to a temp file beside it and renamed into place; on any
    error the temp file is removed and whatever was at `path` is left as it was."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with wave.open(str(tmp), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            wav.writeframes(float_to_pcm16(samples))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def chunks_of(samples: np.ndarray, rate: int, chunk_seconds: float = 0.02) -> Iterator[AudioChunk]:
    """Samples as the microphone would deliver them: chunks of `chunk_seconds`, stamped from 0."""
    step = max(1, int(rate * chunk_seconds))
    for start in range(0, len(samples), step):
        yield AudioChunk.from_samples(samples[start : start + step], rate, timestamp=start / rate)


# ---- shaping speech for a dark bedroom: even loudness, no clicks, soft sounds ------------------------

TARGET_LUFS = -26.0
"""Every phrase is brought to this loudness: a lone "One" as loud as a long sentence. Quiet on purpose
(bedtime), with headroom for "louder"."""
FADE_SECONDS = 0.012
"""Fade in and out of every sound: long enough that nothing clicks, short enough to be unheard."""


def _k_weighting_gain(freqs: np.ndarray) -> np.ndarray:
    """The ITU-R BS.1770 K-weighting magnitude (high-pass at ~38 Hz and +4 dB shelf above ~1.5 kHz)."""
    f = np.maximum(freqs, 1e-3)
    highpass = (f / 38.0) ** 2 / np.sqrt(1 + (f / 38.0) ** 4)
    shelf_db = 4.0 / (1 + (1681.0 / f) ** 2)
    return highpass * 10 ** (shelf_db / 20)


def loudness_lufs(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness (LUFS) after BS.1770: K-weighted power over 400 ms blocks, gated at -70 LUFS
    and at 10 LU below the ungated level. Phrases shorter than a block are one block."""
    samples = np.asarray(samples, dtype=np.float64)
    if len(samples) == 0:
        return -120.0
    spectrum = np.fft.rfft(samples)
    weighted = np.fft.irfft(spectrum * _k_weighting_gain(np.fft.rfftfreq(len(samples), 1 / rate)), len(samples))
    block, hop = int(0.4 * rate), int(0.1 * rate)
    if len(weighted) <= block:
        powers = np.array([np.mean(weighted**2)])
    else:
        starts = range(0, len(weighted) - block + 1, hop)
        powers = np.array([np.mean(weighted[s:s + block] ** 2) for s in starts])
    levels = -0.691 + 10 * np.log10(powers + 1e-20)
    gated = powers[levels > -70.0]
    if len(gated) == 0:
        return -120.0
    relative = -0.691 + 10 * np.log10(np.mean(gated)) - 10.0
    gated = powers[(levels > -70.0) & (levels > relative)]
    return float(-0.691 + 10 * np.log10(np.mean(gated) + 1e-20))


def trim_silence(samples: np.ndarray, rate: int, threshold_db: float = -50.0, margin: float = 0.03) -> np.ndarray:
    """Cut leading and trailing silence, keeping a short margin so consonants are not clipped."""
    frame = max(1, int(0.01 * rate))
    n = len(samples) // frame
    if n == 0:
        return samples
    rms = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20)
    loud = np.nonzero(20 * np.log10(rms) > threshold_db)[0]
    if len(loud) == 0:
        return samples[:0]
    keep = int(margin * rate)
    return samples[max(0, loud[0] * frame - keep): min(len(samples), (loud[-1] + 1) * frame + keep)]


def fade(samples: np.ndarray, rate: int, seconds_in: float = FADE_SECONDS,
         seconds_out: float = FADE_SECONDS) -> np.ndarray:
    """Raised-cosine fade in and out (a copy)."""
    out = np.array(samples, dtype=np.float32)
    for seconds, at_end in ((seconds_in, False), (seconds_out, True)):
        n = min(len(out), int(seconds * rate))
        if n <= 0:
            continue
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))).astype(np.float32)
        if at_end:
            out[-n:] *= ramp[::-1]
        else:
            out[:n] *= ramp
    return out


def normalize_loudness(samples: np.ndarray, rate: int, target_lufs: float = TARGET_LUFS,
                       peak_limit: float = 0.5) -> np.ndarray:
    """Scale to the target loudness; a phrase whose peaks would pass `peak_limit` is scaled down to it
    instead (a little quieter rather than ever distorted). The default leaves 6 dB for "louder"."""
    samples = np.asarray(samples, dtype=np.float32)
    level = loudness_lufs(samples, rate)
    if level <= -100:
        return samples.copy()
    gain = 10 ** ((target_lufs - level) / 20)
    peak = float(np.max(np.abs(samples))) * gain
    if peak > peak_limit:
        gain *= peak_limit / peak
    return (samples * gain).astype(np.float32)


def shape_phrase(samples: np.ndarray, rate: int) -> np.ndarray:
    """What is cached for a phrase: trimmed, loudness-normalized, faded in and out."""
    trimmed = trim_silence(samples, rate)
    return fade(normalize_loudness(trimmed, rate), rate)


def chime(rate: int, seconds: float = 1.6, target_lufs: float = TARGET_LUFS - 6.0) -> np.ndarray:
    """A soft, low bell between stretches: a few inharmonic partials with a gentle attack and long decay,
    quieter than speech so it never startles."""
    t = np.arange(int(seconds * rate)) / rate
    partials = ((392.0, 1.0, 1.1), (588.0, 0.45, 0.8), (784.0, 0.25, 0.6), (1176.0, 0.08, 0.4))
    tone = sum(amp * np.sin(2 * np.pi * freq * t) * np.exp(-t / decay) for freq, amp, decay in partials)
    attack = np.minimum(1.0, t / 0.06)
    shaped = (tone * attack).astype(np.float32)
    return fade(normalize_loudness(shaped, rate, target_lufs), rate, 0.0, 0.3)


class SoftNoise:
    """A soft rumble like a distant fan (leaky-integrated white noise), carried across blocks so the
    joins never click. Off unless asked for."""

    def __init__(self, rate: int, level_db: float = -50.0, seed: int | None = None):
        self._rng = np.random.default_rng(seed)
        self._leak = float(np.exp(-2 * np.pi * 200.0 / rate))  # corner near 200 Hz
        self._state = 0.0
        # RMS of the leaky integrator's output for unit white noise, to set the level
        self._scale = 10 ** (level_db / 20) * np.sqrt(1 - self._leak**2)

    def next(self, frames: int) -> np.ndarray:
        return np.concatenate([self._block(min(256, frames - i)) for i in range(0, frames, 256)] or
                              [np.zeros(0, np.float32)])

    def _block(self, frames: int) -> np.ndarray:
        white = self._rng.standard_normal(frames)
        # y[n] = leak * y[n-1] + x[n], in closed form over a short block (short: leak**-n stays small)
        powers = self._leak ** np.arange(frames)
        out = powers * (self._state + np.cumsum(white / powers))
        self._state = float(out[-1]) * self._leak
        return (out * self._scale).astype(np.float32)


def frame_db(samples: np.ndarray) -> np.ndarray:
    """The level of each whole 20 ms frame, dBFS."""
    n = len(samples) // FRAME
    if n == 0:
        return np.zeros(0)
    frames = samples[: n * FRAME].reshape(n, FRAME).astype(np.float64)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
