"""Audio as small typed values: format, chunks, WAV in/out, mono and resampling.

Samples inside the program are float32 numpy arrays in [-1, 1]; bytes appear only at the edges
(WAV files, 16-bit chunks for recognizers).
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

ASR_RATE = 16_000
"""Hz: what every recognizer is fed."""


@dataclass(frozen=True)
class AudioFormat:
    rate: int
    """Sample rate, Hz."""
    width: int = 2
    """Bytes per sample (2 = 16-bit signed)."""
    channels: int = 1
    """Interleaved channels."""


@dataclass(frozen=True)
class AudioChunk:
    """A piece of 16-bit PCM audio."""

    rate: int
    """Sample rate, Hz."""
    width: int
    """Bytes per sample."""
    channels: int
    """Interleaved channels."""
    audio: bytes
    """Raw little-endian PCM."""
    timestamp: float = 0.0
    """Seconds, on whatever clock produced it (stream time for microphones)."""

    @property
    def format(self) -> AudioFormat:
        return AudioFormat(self.rate, self.width, self.channels)

    @property
    def frames(self) -> int:
        return len(self.audio) // (self.width * self.channels)

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def samples(self) -> np.ndarray:
        """Mono float32 samples (channels averaged)."""
        if self.width != 2:
            raise ValueError(f"only 16-bit audio is supported, not {8 * self.width}-bit")
        pcm = np.frombuffer(self.audio, dtype="<i2").astype(np.float32) / 32768.0
        if self.channels > 1:
            pcm = pcm.reshape(-1, self.channels).mean(axis=1)
        return pcm

    @classmethod
    def from_samples(cls, samples: np.ndarray, rate: int, timestamp: float = 0.0) -> AudioChunk:
        return cls(rate, 2, 1, float_to_pcm16(samples), timestamp)


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
    """A WAV file as mono float32 samples and its rate. 8/16/24/32-bit PCM, any channel count."""
    with wave.open(str(path), "rb") as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
        raw = wav.readframes(wav.getnframes())
    if width == 1:
        pcm = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        pcm = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        pcm = ints.astype(np.float32) / float(1 << 23)
    elif width == 4:
        pcm = np.frombuffer(raw, dtype="<i4").astype(np.float32) / float(1 << 31)
    else:
        raise ValueError(f"{path}: unsupported sample width {width} bytes")
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1)
    return pcm.astype(np.float32), rate


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Mono float32 samples -> 16-bit WAV, written to a temp file and renamed into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(float_to_pcm16(samples))
    tmp.replace(path)


def wav_to_chunks(path: str | Path, rate: int = ASR_RATE, chunk_seconds: float = 0.1) -> Iterator[AudioChunk]:
    """A WAV file as mono 16-bit chunks at `rate`, so tests feed real files through the real code."""
    samples, file_rate = read_wav(path)
    samples = resample(samples, file_rate, rate)
    step = max(1, int(rate * chunk_seconds))
    for start in range(0, len(samples), step):
        yield AudioChunk.from_samples(samples[start : start + step], rate, timestamp=start / rate)
