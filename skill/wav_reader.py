"""WAV files as mono float32, read in blocks so an hour-long file costs a block of memory, not the hour.

Python's `wave` module (3.11) reads only integer PCM in the plain format: it refuses 32-bit float files
and WAVE_FORMAT_EXTENSIBLE, which is what sox, Audacity and most recorders write for 24 and 32 bits or
more than two channels. This reader takes the RIFF chunks itself: integer PCM of 8, 16, 24 and 32 bits,
32- and 64-bit float, plain or extensible, any channel count (averaged to mono).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

PCM, FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
BLOCK_SECONDS = 1.0


class WavError(ValueError):
    """Not a WAV file this reader can decode; the message says what it is instead."""


@dataclass(frozen=True)
class WavFormat:
    rate: int
    channels: int
    width: int
    """Bytes per sample of one channel."""
    floating: bool
    frames: int
    """Frames in the data chunk (as far as the file really holds them)."""
    complete: bool = True
    """False when the file is shorter than its header says (cut off by a full disk or a crash)."""

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def _chunks(f: BinaryIO) -> Iterator[tuple[bytes, int, int]]:
    """(id, size, offset of the body) of each RIFF chunk, without reading the bodies."""
    while True:
        head = f.read(8)
        if len(head) < 8:
            return
        cid, size = head[:4], struct.unpack("<I", head[4:])[0]
        body = f.tell()
        yield cid, size, body
        f.seek(body + size + (size & 1))


def _read_format(f: BinaryIO, file_size: int) -> tuple[WavFormat, int]:
    riff = f.read(12)
    if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:] != b"WAVE":
        raise WavError("not a WAV file (no RIFF/WAVE header)")
    fmt: tuple[int, int, int, int] | None = None
    for cid, size, body in _chunks(f):
        if cid == b"fmt ":
            raw = f.read(min(size, 40))
            if len(raw) < 16:
                raise WavError("its fmt chunk is cut short")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", raw[:16])
            if tag == EXTENSIBLE:
                if len(raw) < 26:
                    raise WavError("its extensible fmt chunk is cut short")
                tag = struct.unpack("<H", raw[24:26])[0]  # the first two bytes of the sub-format GUID
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            if fmt is None:
                raise WavError("its data comes before its fmt chunk")
            tag, channels, rate, bits = fmt
            width = (bits + 7) // 8
            if tag not in (PCM, FLOAT):
                raise WavError(f"sample format {tag:#06x} is not PCM or float (compressed audio: convert it "
                               "with sox or ffmpeg)")
            if (tag == PCM and width not in (1, 2, 3, 4)) or (tag == FLOAT and width not in (4, 8)):
                raise WavError(f"{bits}-bit {'float' if tag == FLOAT else 'integer'} samples are not supported")
            if channels < 1 or rate < 1:
                raise WavError(f"{channels} channels at {rate} Hz")
            available = max(0, min(size, file_size - body))
            return WavFormat(rate, channels, width, tag == FLOAT, available // (width * channels),
                             complete=available == size), body
    raise WavError("no audio (no data chunk)" if fmt else "no fmt chunk")


def _decode(raw: bytes, fmt: WavFormat) -> np.ndarray:
    if fmt.floating:
        pcm = np.frombuffer(raw, dtype="<f4" if fmt.width == 4 else "<f8").astype(np.float32)
        pcm = np.nan_to_num(pcm, nan=0.0, posinf=1.0, neginf=-1.0)
    elif fmt.width == 1:
        pcm = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif fmt.width == 2:
        pcm = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif fmt.width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        pcm = ints.astype(np.float32) / float(1 << 23)
    else:
        pcm = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / float(1 << 31)).astype(np.float32)
    if fmt.channels > 1:
        pcm = pcm.reshape(-1, fmt.channels).mean(axis=1, dtype=np.float32)
    return pcm


def wav_format(path: str | Path) -> WavFormat:
    with open(path, "rb") as f:
        return _read_format(f, Path(path).stat().st_size)[0]


def wav_blocks(path: str | Path, block_seconds: float = BLOCK_SECONDS) -> tuple[WavFormat, Iterator[np.ndarray]]:
    """The file's format, and its samples as mono float32 blocks of about `block_seconds` each."""
    fmt = wav_format(path)

    def blocks() -> Iterator[np.ndarray]:
        frame_bytes = fmt.width * fmt.channels
        step = max(1, int(fmt.rate * block_seconds)) * frame_bytes
        with open(path, "rb") as f:
            _, body = _read_format(f, Path(path).stat().st_size)
            f.seek(body)
            left = fmt.frames * frame_bytes
            while left > 0:
                raw = f.read(min(step, left))
                raw = raw[: len(raw) - len(raw) % frame_bytes]
                if not raw:
                    return
                left -= len(raw)
                yield _decode(raw, fmt)

    return fmt, blocks()


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A whole WAV file as mono float32 samples and its rate."""
    fmt, blocks = wav_blocks(path, block_seconds=60.0)
    parts = list(blocks)
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), fmt.rate
