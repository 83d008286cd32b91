"""An utterance padded with its own room: what every engine is handed, whether the endpointer cut it from a
stream or it is a whole recording."""

from __future__ import annotations

import numpy as np

from skill.audio import ASR_RATE, FRAME, frame_db, resample

PAD_SECONDS = 0.3


def as_utterance(samples: np.ndarray, rate: int) -> np.ndarray:
    """A recording (any rate) at 16 kHz with 0.3 s of its own background either side, as the endpointer
    would hand it over."""
    audio = resample(samples, rate, ASR_RATE)
    pad = background(audio, int(PAD_SECONDS * ASR_RATE))
    return _crossfade(_crossfade(pad, audio), pad)


SPLICE = FRAME // 2
"""Samples over which padding and recording are blended: a butt joint is a step, and a step is a click."""


def background(audio: np.ndarray, n: int) -> np.ndarray:
    """`n` samples of the recording's own background: its quietest fifth of frames, overlapped and added.

    Padding with the recording's own noise, as a live stream would continue, keeps its spectrum: a white
    pad at the level of a low rumble (brown noise) sounds like a hiss burst and ruins the decode. The
    frames are blended under sine windows (whose squares sum to one at half overlap, so the noise keeps its
    power): laid end to end, a rumble's frames meet at different heights, and each step clicks like the
    start of a word.
    """
    levels = frame_db(audio)
    if len(levels) == 0:
        return np.zeros(n, np.float32)
    quiet = np.sort(np.argsort(levels)[: max(1, len(levels) // 5)])
    frames = audio[: len(levels) * FRAME].reshape(len(levels), FRAME)[quiet].astype(np.float64)
    window = np.sin(np.pi * (np.arange(FRAME) + 0.5) / FRAME)
    out = np.zeros(n + 2 * FRAME)
    for k, start in enumerate(range(0, n + FRAME, SPLICE)):
        out[start: start + FRAME] += frames[k % len(frames)] * window
    return out[SPLICE: SPLICE + n].astype(np.float32)


def _crossfade(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`a` then `b`, the last SPLICE samples of one blended into the first of the other (at constant power,
    as both are noise where they meet)."""
    k = min(SPLICE, len(a), len(b))
    if k == 0:
        return np.concatenate([a, b]).astype(np.float32)
    angle = np.linspace(0, np.pi / 2, k)
    joint = a[len(a) - k:] * np.cos(angle) + b[:k] * np.sin(angle)
    return np.concatenate([a[: len(a) - k], joint, b[k:]]).astype(np.float32)
