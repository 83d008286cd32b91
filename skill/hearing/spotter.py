"""The command spotter: which command an utterance says, or none, from its speech embeddings.

openWakeWord's shape, for a whole command vocabulary: a frozen speech embedding trained on a great deal of
real speech (`embedding.py`), and over it a small classifier of our own (skill/data/command_spotter.npz,
fitted by scripts/train_spotter.py) that names the command or "none". The classifier was fitted on many
synthetic voices (espeak-ng's accents and variants, flite's, Piper's pitch-shifted), put through rooms,
microphones and noise, against a thousand and more common words, the guide's own sentences and real
people's speech; real people's commands were never among what it learnt from. On them it understands
several times what a grammar decode of pocketsphinx's does, with fewer false accepts (README: hearing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skill import paths
from skill.audio import ASR_RATE
from skill.hearing.commands import PHRASES, Intent
from skill.hearing.embedding import N_DIMS, embedded, features
from skill.hearing.endpointer import MAX_COMMAND_SECONDS, MIN_COMMAND_SECONDS
from skill.hearing.padding import PAD_SECONDS, as_utterance
from skill.hearing.recognition import Recognition, phrase_intent

SPOTTER_FILE = paths.PACKAGE_DATA / "command_spotter.npz"
NONE = "none"
"""The label of everything that is not a command."""
SEGMENTS = 3
"""An utterance's embeddings are summed up as their mean, their maximum, and the means of its first, middle
and last thirds: a fixed-length view of a command of any length, that keeps the order of its sounds."""
CANDIDATE_FLOOR = 0.3
"""Below the threshold but at least this likely, the best command is handed on as a candidate (barge-in
weighs "stop" and "pause" candidates while the guide talks; `listen -v` shows them)."""


def summary(embeddings: np.ndarray) -> np.ndarray:
    """One vector for an utterance's (windows, 96) embeddings (see SEGMENTS), and its length."""
    e = np.asarray(embeddings, np.float64)
    thirds = np.array_split(np.repeat(e, SEGMENTS, axis=0), SEGMENTS)
    return np.concatenate([e.mean(0), e.max(0), *(t.mean(0) for t in thirds), [len(e) / 10]])


SUMMARY_SIZE = N_DIMS * (2 + SEGMENTS) + 1


@dataclass(frozen=True)
class Spotter:
    """An ensemble of small networks (one hidden ReLU layer, softmax over `labels`), averaged."""

    labels: tuple[str, ...]
    """Intent values, and NONE last."""
    mean: np.ndarray
    scale: np.ndarray
    """Each summary feature is standardised with these before the networks see it."""
    hidden_weights: np.ndarray
    hidden_biases: np.ndarray
    out_weights: np.ndarray
    out_biases: np.ndarray
    """(members, ...) each."""
    threshold: float
    """A command is taken when the ensemble gives it at least this probability."""

    def probabilities(self, summaries: np.ndarray) -> np.ndarray:
        """(n, labels) for (n, SUMMARY_SIZE) summaries."""
        x = (np.atleast_2d(summaries) - self.mean) / self.scale
        hidden = np.maximum(np.einsum("nd,mdh->mnh", x, self.hidden_weights) + self.hidden_biases[:, None], 0)
        z = np.einsum("mnh,mhk->mnk", hidden, self.out_weights) + self.out_biases[:, None]
        z -= z.max(axis=2, keepdims=True)
        p = np.exp(z)
        return (p / p.sum(axis=2, keepdims=True)).mean(axis=0)

    def best_command(self, summary_vector: np.ndarray, allowed: np.ndarray | None = None) -> tuple[str, float, float]:
        """The likeliest command for one utterance's summary, among the `allowed` labels (a mask; default all
        commands): its label, its probability, and the probability that it is no command at all."""
        p = self.probabilities(summary_vector)[0]
        mask = allowed if allowed is not None else np.array([label != NONE for label in self.labels])
        best = int(np.argmax(np.where(mask, p, -1.0)))
        return self.labels[best], float(p[best]), float(p[-1])

    def save(self, path: Path) -> None:
        np.savez_compressed(path, labels=np.array(self.labels), mean=self.mean, scale=self.scale,
                            hidden_weights=self.hidden_weights.astype(np.float32),
                            hidden_biases=self.hidden_biases.astype(np.float32),
                            out_weights=self.out_weights.astype(np.float32),
                            out_biases=self.out_biases.astype(np.float32), threshold=np.array(self.threshold))

    @classmethod
    def load(cls, path: Path | None = None) -> Spotter:
        path = path or SPOTTER_FILE
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], np.float64) for k in ("mean", "scale", "hidden_weights",
                                                                  "hidden_biases", "out_weights", "out_biases")}
            spotter = cls(labels=tuple(str(x) for x in data["labels"]), threshold=float(data["threshold"]), **arrays)
        known = {i.value for i in Intent}
        if spotter.labels[-1] != NONE or not set(spotter.labels[:-1]) <= known \
                or spotter.mean.shape != (SUMMARY_SIZE,) or spotter.out_weights.shape[2] != len(spotter.labels):
            raise ValueError(f"{path}: not a command spotter of this program's; run scripts/train_spotter.py")
        return spotter


class SpotterEngine:
    """An Engine: the spotter's judgement of one utterance, within the commands of `phrases`."""

    name = "spotter"

    def __init__(self, phrases: Sequence[str], spotter: Spotter | None = None):
        self.spotter = spotter or Spotter.load()
        wanted = {i.value for p in phrases if (i := phrase_intent(p)) is not None}
        self._allowed = np.array([label in wanted for label in self.spotter.labels])
        features(np.zeros(ASR_RATE // 2, np.float32))  # the ONNX models load now, not on the first command

    def decode(self, samples: np.ndarray) -> Recognition:
        # in its own room's sound as the networks learnt commands, with 0.3 s or more either side of the
        # words: the endpointer cuts 0.22 s after them, before a "pause"'s fading "z" had its last window
        # (0.84 whole, 0.08 as cut)
        embeddings, span = embedded(as_utterance(samples, ASR_RATE))
        if span is None:
            return Recognition(None, "", 0.0, 0.0, len(samples) / ASR_RATE, "no speech")
        # the speech's extent as the embedding front end finds it (each mel band against the utterance's own
        # room): a level rule on the raw samples calls a command at 5 dB SNR "too short"
        start, end = span[0] - PAD_SECONDS, span[1] - PAD_SECONDS
        if not MIN_COMMAND_SECONDS <= end - start <= MAX_COMMAND_SECONDS:
            reason = "too short" if end - start < MIN_COMMAND_SECONDS else \
                f"too long for a command ({end - start:.1f} s)"
            return Recognition(None, "", 0.0, start, end, reason)
        label, confidence, no_command = self.spotter.best_command(summary(embeddings), self._allowed)
        intent = Intent(label)
        text = PHRASES[intent][0]
        if confidence >= self.spotter.threshold:
            return Recognition(intent, text, confidence, start, end, coverage=1.0)
        candidate = intent if confidence >= CANDIDATE_FLOOR else None
        return Recognition(None, text if candidate else "", confidence, start, end,
                           f"unsure ({confidence:.2f} for {text!r}, {no_command:.2f} for no command)",
                           candidate=candidate, coverage=1.0 if candidate else 0.0)
