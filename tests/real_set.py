"""Recordings of real people (../shared/realspeech-dev, see its SOURCES.md), split by speaker.

Anything fitted to real speech (scripts/tune_rejection.py) sees only the FIT speakers; the tests and the
benchmark judge on the JUDGE speakers, whom nothing was fitted on. The one speaker with real commands
(felixchen: "back" and "stop" in a room with a loud fan) is a judge: the fit never hears a real command,
so what it learns of real voices is how to turn down what is not one.
"""

from __future__ import annotations

import csv
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_DIR = REPO_ROOT.parent / "shared" / "realspeech-dev"
FIT_SPEAKERS = frozenset({"fsdd-george", "fsdd-jackson", "fsdd-lucas", "speechbrain-spk1", "cmuarctic-aew",
                          "librivox-austen01"})
"""Named speakers fitted on; the rest of the named ones are judges."""


@dataclass(frozen=True)
class RealClip:
    path: Path
    intent: str
    """The command the clip says, or "none"."""
    source: str
    """felixchen, fsdd, pvwwb, pvs2i, ... (the voice prefix without "human-")."""
    speaker: str
    phrase: str

    @property
    def is_command(self) -> bool:
        return self.intent != "none"

    @property
    def isolated_word(self) -> bool:
        """One word on its own ("yes", "three", "alexa"): where real false accepts come from."""
        return " " not in self.phrase.strip() and not self.phrase.startswith("[")

    @property
    def short(self) -> bool:
        """At most two words ("yes", "smart mirror"): a command's length, so only the words can tell."""
        return not self.phrase.startswith("[") and len(self.phrase.split()) <= 2

    @property
    def for_fitting(self) -> bool:
        """Whether a fit may hear this clip. Speakers without ids (the wake-word and coffee-order sets,
        many speakers each) are split in halves by a hash of the clip's name."""
        if self.source in ("pvwwb", "pvs2i"):
            return zlib.crc32(self.path.name.encode()) % 2 == 0
        return f"{self.source}-{self.speaker}" in FIT_SPEAKERS


def real_dir() -> Path:
    return Path(os.environ.get("BEDTIME_STRETCH_REALSPEECH", DEFAULT_DIR))


def load(folder: Path | None = None) -> list[RealClip]:
    """Every clip of the manifest; [] where the set is not beside this checkout."""
    folder = folder or real_dir()
    manifest = folder / "manifest.tsv"
    if not manifest.exists():
        return []
    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    clips = []
    for row in rows:
        _, source, speaker = row["voice"].split("-", 2)
        clips.append(RealClip(folder / row["file"], row["intent"], source, speaker, row["phrase"]))
    return clips


def in_its_own_room(path: Path, lead_seconds: float, tail_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """The recording at 16 kHz, and it inside a stream of its own room (its quietest frames, as
    `background` makes them): `lead_seconds` before it and `tail_seconds` after, as a live session hears it."""
    from skill.audio import ASR_RATE, read_wav, resample
    from skill.hearing.padding import background

    said = resample(*read_wav(path), ASR_RATE).astype(np.float32)
    room = background(said, int(max(lead_seconds, tail_seconds) * ASR_RATE))
    return said, np.concatenate([room[: int(lead_seconds * ASR_RATE)], said, room[: int(tail_seconds * ASR_RATE)]])

