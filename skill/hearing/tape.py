"""A session's tape, for diagnosing what the listener did: the microphone and the speaker's reference
(16 kHz, with their monotonic times) and when each utterance played. `BEDTIME_STRETCH_TAPE=FILE.npz`
turns it on; `scripts/replay_tape.py` feeds a tape back through the listener, offline and repeatably.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

ENV = "BEDTIME_STRETCH_TAPE"


class Tape:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._tracks: dict[str, list[tuple[float, np.ndarray]]] = {"mic": [], "ref": []}
        self._marks: list[tuple[float, str, int, str]] = []

    def audio(self, track: str, at: float, samples: np.ndarray) -> None:
        with self._lock:
            self._tracks[track].append((at, np.asarray(samples, np.float32).copy()))

    def mark(self, at: float, what: str, seq: int, text: str = "") -> None:
        """A playback event: `what` is "handed" or "done" (the tracker's), or "gap": the speaker ran dry from
        `at` for `text` seconds."""
        with self._lock:
            self._marks.append((at, what, seq, text))

    def save(self) -> None:
        with self._lock:
            arrays: dict[str, np.ndarray] = {}
            for name, chunks in self._tracks.items():
                arrays[f"{name}_at"] = np.array([at for at, _ in chunks], np.float64)
                arrays[f"{name}_len"] = np.array([len(s) for _, s in chunks], np.int64)
                arrays[name] = np.concatenate([s for _, s in chunks]) if chunks else np.zeros(0, np.float32)
            arrays["marks"] = np.array([f"{at!r}\t{what}\t{seq}\t{text}" for at, what, seq, text in self._marks])
        tmp = self.path.with_suffix(".part.npz")
        np.savez_compressed(tmp, allow_pickle=False, **arrays)
        os.replace(tmp, self.path)


def from_environment() -> Tape | None:
    path = os.environ.get(ENV)
    return Tape(Path(path)) if path else None


def load(path: Path) -> tuple[dict[str, list[tuple[float, np.ndarray]]], list[tuple[float, str, int, str]]]:
    with np.load(path) as npz:
        data = {key: npz[key] for key in npz.files}  # an NpzFile decompresses again on every access
    tracks = {}
    for name in ("mic", "ref"):
        audio, times = data[name], data[f"{name}_at"]
        bounds = np.cumsum(np.concatenate([[0], data[f"{name}_len"]]))
        tracks[name] = [(float(at), audio[bounds[i]:bounds[i + 1]]) for i, at in enumerate(times)]
    marks = []
    for line in data["marks"]:
        at, what, seq, text = str(line).split("\t", 3)
        marks.append((float(at), what, int(seq), text))
    return tracks, marks
