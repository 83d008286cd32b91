"""The typed seam of hearing: what a recognizer says of an utterance (`Recognition`), the protocols of
a recognizer and an engine, and what every engine is handed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from skill.audio import AudioChunk
from skill.hearing.commands import WAKE_PHRASES, Intent, parse

log = logging.getLogger(__name__)

ENGINES = ("auto", "vosk", "spotter", "pocketsphinx")
"""The recognizers a session can be given: auto is Vosk where its model is installed, else the spotter."""
DITHER = 2e-3
"""A noise floor under the audio: exact digital silence confuses the acoustic models."""


@dataclass(frozen=True)
class Recognition:
    intent: Intent | None
    """None: not a command."""
    text: str
    """The words heard."""
    confidence: float
    """0..1."""
    start: float
    """Seconds of stream time (chunk timestamps) where the utterance begins."""
    end: float
    """Seconds of stream time where the speech ends."""
    reason: str = ""
    """Why it was rejected, when it was."""
    candidate: Intent | None = None
    """What the grammar heard, even when rejected (barge-in weighs it while the guide talks)."""
    coverage: float = 0.0
    """The share of the speech the grammar's words account for."""
    margin: float | None = None
    """How much better the phrase explains the speech than common English words do, per 10 ms frame (None:
    the engine does not measure it)."""


class Recognizer(Protocol):
    def feed(self, chunk: AudioChunk) -> list[Recognition]: ...

    def flush(self) -> list[Recognition]: ...

    def reset(self) -> None: ...


class Engine(Protocol):
    name: str

    def decode(self, samples: np.ndarray) -> Recognition:
        """One utterance (16 kHz mono float32, with a little silence around it)."""


def with_dither(samples: np.ndarray, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, DITHER, len(samples)).astype(np.float32)
    return np.clip(samples + noise, -1, 1)


def to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def phrase_intent(text: str) -> Intent | None:
    """The intent of a grammar phrase; the bedside service's wake phrases mean "start"."""
    return parse(text) or (Intent.START if text in WAKE_PHRASES else None)
