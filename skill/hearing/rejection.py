"""Whether a pocketsphinx decode was a command: the evidence it gives, and the learnt judgement over it
(skill/data/rejection.json, fitted by scripts/tune_rejection.py)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from skill import paths
from skill.hearing.commands import Intent
from skill.hearing.endpointer import MAX_COMMAND_SECONDS, MIN_COMMAND_SECONDS

log = logging.getLogger(__name__)

REJECTION_FILE = paths.PACKAGE_DATA / "rejection.json"


@dataclass(frozen=True)
class Evidence:
    """What the grammar decode of one utterance says, to judge whether it was a command."""

    text: str
    """The phrase the grammar matched ("" for none)."""
    intent: Intent | None
    start: float
    end: float
    """Seconds into the utterance where its speech begins and ends."""
    speech_seconds: float
    coverage: float
    """The share of the speech the grammar's words account for."""
    score_per_frame: float
    """The grammar path's log score per 10 ms frame of its words. pocketsphinx scores each frame against
    its best-scoring senone, so this is how far the phrase falls short of the best any sound could do:
    near zero when the audio is the phrase, far below when a phrase was forced onto other speech."""
    score_total: float
    """The same over the whole utterance, in thousands."""
    lattice_agrees: float
    """1 when a second search of the grammar, rescoring its word lattice, ends on the same phrase; 0 when it
    names another or none (a close call)."""
    garbage_margin: float
    """How much better the phrase explains the utterance than any run of common English words does, per
    10 ms frame: a real "yes", "bed" or "alexa" is matched better by ordinary words (negative), a command
    by itself (positive). The open-vocabulary competitor a closed grammar lacks."""

    lattice_searched: bool = True
    """False when that search was not run because neither answer could change the judgement
    (`RejectionModel.settled_without`); `lattice_agrees` then holds the answer nearer the threshold."""

    @property
    def command_length(self) -> bool:
        """Whether the speech is as long as a command can be (longer is a sentence, shorter a click)."""
        return MIN_COMMAND_SECONDS <= self.speech_seconds <= MAX_COMMAND_SECONDS

    FEATURES: ClassVar[tuple[str, ...]] = ("score_per_frame", "score_total", "coverage", "lattice_agrees",
                                           "garbage_margin")
    """What the learnt judgement weighs. Phones' lengths and the speech's length added nothing once real
    people's words were among the negatives (scripts/tune_rejection.py); length is a rule of its own."""

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in self.FEATURES], dtype=np.float64)


@dataclass(frozen=True)
class RejectionModel:
    """Logistic regression over `Evidence.FEATURES`: the probability that the grammar's phrase is what was
    said. Fitted by scripts/tune_rejection.py on the tuning voices; stored in skill/data/rejection.json."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float

    @classmethod
    def load(cls, path: Path = REJECTION_FILE) -> RejectionModel:
        data = json.loads(path.read_text())
        if list(data["features"]) != list(Evidence.FEATURES):
            raise ValueError(f"{path}: features {data['features']} are not {list(Evidence.FEATURES)}; "
                             "run scripts/tune_rejection.py")
        return cls(np.array(data["mean"]), np.array(data["scale"]), np.array(data["weights"]),
                   float(data["bias"]), float(data["threshold"]))

    def settled_without(self, evidence: Evidence, feature: str, values: tuple[float, ...]) -> float | None:
        """Whether the judgement is the same whatever value in `values` the `feature` takes: then the value
        whose probability lies nearest the threshold (the confidence reported never overstates the case),
        else None (the feature must be measured)."""
        vector, index = evidence.vector(), Evidence.FEATURES.index(feature)
        probabilities = []
        for value in values:
            vector[index] = value
            probabilities.append(self._probability_of(vector))
        accepted = {p >= self.threshold for p in probabilities}
        if len(accepted) > 1:
            return None
        nearest = min(range(len(values)), key=lambda i: abs(probabilities[i] - self.threshold))
        return values[nearest]

    def probability(self, evidence: Evidence) -> float:
        return self._probability_of(evidence.vector())

    def _probability_of(self, vector: np.ndarray) -> float:
        z = float(((vector - self.mean) / self.scale) @ self.weights + self.bias)
        return float(1 / (1 + np.exp(-np.clip(z, -50, 50))))
