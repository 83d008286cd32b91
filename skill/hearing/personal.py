"""A personal model: one person's own takes of the commands, used to hear that person better.

Each take is kept as a compact feature sequence (openWakeWord's speech embeddings every 160 ms, over its
speech only), with what the general recognizer made of it at enrollment. A new utterance is aligned
(dynamic time warping) against every take; its distance to the nearest take of each command, and to the
nearest of the person's non-commands and room silence, says what it is.
The model only ever overrides the general recognizer where that match is clear: a command well inside
the spread of the person's own takes of it and well clear of everything else is taken (even when the
grammar heard another word, as it does for a voice it was not built for; more readily when the grammar
heard what it heard in the person's own takes of that command), and a general acceptance that is plainly
one of the person's non-commands is turned down. For a person the general recognizer hears badly (it took
few of their own takes at enrollment for the right command), its word alone is not enough: only what the
person's takes agree with is taken. Anything in between is left to the general recognizer, as before.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from skill.audio import ASR_RATE
from skill.hearing.commands import Intent
from skill.hearing.embedding import N_DIMS, features
from skill.hearing.recognition import Recognition
from skill.paths import data_dir

log = logging.getLogger(__name__)

VERSION = 4
"""Bumped when the features change: a model of another version is ignored (enroll again)."""
OTHER = "none"
"""The label of the person's non-commands and room silence."""

ACCEPT_RATIO = 0.8
"""A command is taken when its nearest take is at most this share of the distance to the nearest take of
anything else the person said..."""
ACCEPT_SPREAD = 2.2
"""...and within this multiple of how far the person's own takes of that command lie from each other (a
sentence or a cough is far from everything)."""
AGREE_RELAX = 1.0
"""Both bounds loosened by this much when the grammar heard the same command (two opinions agree)."""
HEARD_RELAX = 1.3
"""Both bounds loosened by this much when the grammar heard another command, one it heard in the person's
own takes of this one at enrollment (felixchen's "stop" is "slower" to it, a word he never says)."""
SWITCH_RATIO = 0.7
"""A command the grammar took is changed for another only when that one's takes are this much nearer."""
LENGTH_SLACK = 1
"""The model takes a command only from an utterance at most this many windows longer than the person's
longest take of it: a sentence aligned with a word can come out near it."""
REJECT_RATIO = 0.8
"""A general acceptance is turned down when one of the person's non-commands is nearer than this share of
the distance to the person's takes of that command..."""
REJECT_NEAR = 1.8
"""...and within this multiple of the median spread of the person's commands (near it in its own right,
not merely less far than a phrase that was never enrolled)."""
MIN_TRUST = 0.34
"""Where the general recognizer took fewer than this share of the person's own command takes right, its
acceptance stands only where the person's takes agree (felixchen's: 1 of 6; the espeak voices' most).

All nine were chosen by scripts/tune_personal.py on the tuning voices espeak-us and espeak-us-f3 and on
felixchen's tuning half (his judged clips whose name hashes even, tests/enroll_set.py; his non-commands
also judged by models enrolled without that word's takes), enrolled with 1, 2 and 3 takes: the first of
the best of 1944 combinations (ties go to the stricter) for understood, all phrases and the enrolled ones,
less four times the false accepts. scripts/bench_enroll.py reports felixchen's other half apart, and the
held-out voices, which nothing was chosen on."""


def personal_model_path() -> Path:
    return data_dir() / "voice" / "personal-model.npz"


def recordings_dir() -> Path:
    return data_dir() / "voice" / "recordings"


# ---- alignment --------------------------------------------------------------------------------------


def distances(query: np.ndarray, templates: Sequence[np.ndarray]) -> np.ndarray:
    """The mean per-frame distance of `query` along its best alignment with each template (inf where
    none fits: one more than twice as long as the other).

    Each query frame moves on 0, 1 or 2 template frames (a slope-constrained time warp), so a whole row of
    the alignment, for every template at once, is three shifted minimums: no loop over templates."""
    k = len(templates)
    if k == 0 or len(query) == 0:
        return np.full(k, np.inf)
    lengths = np.array([len(t) for t in templates])
    width = int(lengths.max())
    padded = np.zeros((k, width, query.shape[1]))
    for i, t in enumerate(templates):
        padded[i, : len(t)] = t
    # squared distances of every query frame to every template frame: (n, k, width)
    cost = np.sqrt(np.maximum(
        (query ** 2).sum(1)[:, None, None] + (padded ** 2).sum(2)[None] - 2 * np.einsum("nd,kwd->nkw", query,
                                                                                        padded), 0))
    cost[:, np.arange(width)[None, :] >= lengths[:, None]] = np.inf
    acc = np.full((k, width), np.inf)
    acc[:, :2] = cost[0, :, :2]  # (a take's first frame may be a little early)
    for row in cost[1:]:
        stay = acc
        step = np.concatenate([np.full((k, 1), np.inf), acc[:, :-1]], axis=1)
        skip = np.concatenate([np.full((k, 2), np.inf), acc[:, :-2]], axis=1)
        acc = np.minimum(np.minimum(stay, step), skip) + row
    ends = np.stack([acc[np.arange(k), np.maximum(lengths - d, 0)] for d in (1, 2)])
    return ends.min(axis=0) / len(query)


# ---- the model --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    nearest: dict[str, float]
    """Per label (an Intent value or OTHER): the distance to the nearest of the person's takes of it."""
    windows: int = 0
    """How many feature windows the utterance has."""

    @property
    def command(self) -> str | None:
        commands = {k: v for k, v in self.nearest.items() if k != OTHER}
        return min(commands, key=commands.__getitem__) if commands else None

    def rival(self, label: str) -> float:
        """The distance to the nearest take of anything else."""
        return min((v for k, v in self.nearest.items() if k != label), default=np.inf)


@dataclass(frozen=True)
class PersonalModel:
    labels: tuple[str, ...]
    """An Intent value or OTHER, per template."""
    templates: tuple[np.ndarray, ...]
    spreads: dict[str, float]
    """Per command: the median distance from each take to the nearest other take of it."""
    heard: tuple[str, ...] = ()
    """Per template: what the general recognizer made of that take at enrollment (the Intent value it took
    or its candidate; "" for nothing, or when it was not asked)."""
    took: tuple[bool, ...] = ()
    """Per template: whether the general recognizer took it (for the command `heard`, not a candidate)."""

    @cached_property
    def trust(self) -> float:
        """The share of the person's command takes the general recognizer took for the right command (1 when
        it was not asked)."""
        mine = [h == label and t for label, h, t in zip(self.labels, self.heard, self.took, strict=False)
                if label != OTHER]
        return float(np.mean(mine)) if mine else 1.0

    def heard_as(self, label: str) -> set[str]:
        return {h for lab, h in zip(self.labels, self.heard, strict=False) if lab == label and h}

    @cached_property
    def scale(self) -> float:
        """The median spread of the person's commands."""
        return float(np.median(list(self.spreads.values()))) if self.spreads else np.inf

    def longest(self, label: str) -> int:
        return max((len(t) for lab, t in zip(self.labels, self.templates, strict=True) if lab == label), default=0)

    @property
    def intents(self) -> list[Intent]:
        return sorted({Intent(label) for label in self.labels if label != OTHER})

    def takes(self, label: str) -> int:
        return self.labels.count(label)

    @classmethod
    def build(cls, takes: Sequence[tuple[str, np.ndarray]], general: object | None = None) -> PersonalModel:
        """From (label, 16 kHz samples) takes: commands labelled by their Intent value, the rest OTHER;
        `general`, the general recognizer's engine, is asked what it makes of each take."""
        kept = [(label, samples, f) for label, samples in takes if len(f := features(samples))]
        labels = tuple(label for label, _, _ in kept)
        templates = tuple(f for _, _, f in kept)
        said = [_heard(general, samples) for _, samples, _ in kept] if general is not None else []
        heard, took = tuple(h for h, _ in said), tuple(t for _, t in said)
        if not any(label != OTHER for label in labels):
            raise ValueError("no command take has any speech in it")
        spreads: dict[str, float] = {}
        for label in sorted(set(labels) - {OTHER}):
            own = [t for lab, t in zip(labels, templates, strict=True) if lab == label]
            near = [float(np.min(distances(t, own[:i] + own[i + 1:]))) for i, t in enumerate(own) if len(own) > 1]
            spreads[label] = float(np.median(near)) if near else float("nan")
        # one take of a command: no spread of its own, so the median of the others'; with one take of each,
        # how near this person's takes come to each other at all (the scale their distances are read on)
        known = [s for s in spreads.values() if np.isfinite(s)]
        fallback = float(np.median(known)) if known else _typical_distance(templates)
        spreads = {k: (v if np.isfinite(v) else fallback) for k, v in spreads.items()}
        return cls(labels, templates, spreads, heard, took)

    @cached_property
    def longest_command(self) -> int:
        return max((self.longest(label) for label in set(self.labels) - {OTHER}), default=0)

    def judge(self, samples: np.ndarray, max_windows: int | None = None) -> Judgement | None:
        """None where the utterance holds no speech, or more than any take could be aligned with (twice
        the longest) or than `max_windows`: the general recognizer's alone to judge."""
        most = 2 * max((len(t) for t in self.templates), default=0)
        query = features(samples, most if max_windows is None else min(most, max_windows))
        if len(query) == 0:
            return None
        d = distances(query, self.templates)
        nearest: dict[str, float] = {}
        for label, dist in zip(self.labels, d, strict=True):
            nearest[label] = min(nearest.get(label, np.inf), float(dist))
        return Judgement(nearest, len(query))

    def revise(self, rec: Recognition, samples: np.ndarray) -> Recognition:
        """The general recognizer's decision, changed only where the person's takes clearly say otherwise."""
        # where the grammar took nothing, only a command can come of this, and the model takes none from an
        # utterance longer than its takes: the embeddings (most of its cost) of a longer one are not made
        j = self.judge(samples, None if rec.intent is not None else self.longest_command + LENGTH_SLACK)
        label = j.command if j is not None else None
        if j is None or label is None or not np.isfinite(j.nearest[label]):
            return rec
        intent = Intent(label)
        said = rec.intent or rec.candidate
        # (the mishearing, not the agreement: loosening on both let one more sentence of espeak-us-f3 through)
        relax = AGREE_RELAX if intent in (rec.intent, rec.candidate) else \
            HEARD_RELAX if said is not None and said.value in self.heard_as(label) else 1.0
        near = j.nearest[label]
        clear = near <= ACCEPT_RATIO * relax * j.rival(label) and near <= ACCEPT_SPREAD * relax * self.spreads[label] \
            and j.windows <= self.longest(label) + LENGTH_SLACK
        # another command than the one the grammar took, over the person's own takes of that one: only by a
        # wide margin (an "i'm ready" the grammar took as start is nearer the takes of "repeat" than of
        # "start" when only "start" was enrolled)
        overrules = rec.intent is None or rec.intent == intent or rec.intent.value not in j.nearest \
            or near <= SWITCH_RATIO * j.nearest[rec.intent.value]
        if clear and overrules:
            if rec.intent == intent:
                return rec
            return Recognition(intent, rec.text, rec.confidence, rec.start, rec.end,
                               reason=f"your voice ({near:.1f} from your takes, {j.rival(label):.1f} from others)",
                               candidate=None, coverage=rec.coverage, margin=rec.margin)
        if rec.intent is not None and np.isfinite(j.nearest.get(OTHER, np.inf)):
            # (only on a match: where no take of anything could be aligned, nothing is known)
            own = j.nearest.get(rec.intent.value, near)
            if j.nearest[OTHER] <= REJECT_RATIO * own and j.nearest[OTHER] <= REJECT_NEAR * self.scale:
                return Recognition(None, rec.text, rec.confidence, rec.start, rec.end,
                                   reason=f"sounds like your non-commands ({j.nearest[OTHER]:.1f} against "
                                          f"{own:.1f})", candidate=rec.intent, coverage=rec.coverage,
                                   margin=rec.margin)
        if rec.intent is not None and self.trust < MIN_TRUST:
            return Recognition(None, rec.text, rec.confidence, rec.start, rec.end,
                               reason=f"the grammar took {self.trust:.0%} of your takes right: its word alone is not "
                                      "enough", candidate=rec.intent, coverage=rec.coverage, margin=rec.margin)
        return rec

    # ---- storage ----

    def save(self, path: Path | None = None) -> Path:
        """Written whole or not at all: a temporary file beside it, renamed over it at the end."""
        path = path or personal_model_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {f"t{i}": t.astype(np.float32) for i, t in enumerate(self.templates)}
        arrays |= {"version": np.array(VERSION), "labels": np.array(self.labels),
                   "heard": np.array(self.heard, dtype=str), "took": np.array(self.took, dtype=bool),
                   "spread_keys": np.array(list(self.spreads)),
                   "spread_values": np.array(list(self.spreads.values()))}
        fd, tmp = tempfile.mkstemp(prefix=".personal-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: Path) -> PersonalModel:
        with np.load(path, allow_pickle=False) as data:
            version = int(data["version"])
            if version != VERSION:
                raise ValueError(f"version {version}, this program reads {VERSION}")
            labels = tuple(str(x) for x in data["labels"])
            templates = tuple(np.asarray(data[f"t{i}"], np.float64) for i in range(len(labels)))
            spreads = {str(k): float(v) for k, v in zip(data["spread_keys"], data["spread_values"], strict=True)}
            heard = tuple(str(x) for x in data["heard"])
            took = tuple(bool(x) for x in data["took"])
        for label in labels:
            if label != OTHER:
                Intent(label)
        if any(t.ndim != 2 or t.shape[1] != N_DIMS for t in templates) or set(spreads) != set(labels) - {OTHER} \
                or len(heard) not in (0, len(labels)) or len(took) != len(heard):
            raise ValueError("its takes are not this program's features")
        return cls(labels, templates, spreads, heard, took)


def _heard(general: object, samples: np.ndarray) -> tuple[str, bool]:
    rec: Recognition = general.decode(samples)  # type: ignore[attr-defined]
    said = rec.intent or rec.candidate
    return (said.value if said is not None else ""), rec.intent is not None


def _typical_distance(templates: Sequence[np.ndarray]) -> float:
    """The median distance from each take to its nearest other take."""
    near = [float(np.min(distances(t, [*templates[:i], *templates[i + 1:]]))) for i, t in enumerate(templates)]
    finite = [d for d in near if np.isfinite(d)]
    return float(np.median(finite)) if finite else 1.0


def load_personal_model(path: Path | None = None) -> PersonalModel | None:
    """The person's model, or None: none enrolled, or one that cannot be read (said in one line; the general
    recognizer then works alone, as before enrolling)."""
    path = path or personal_model_path()
    if not path.exists():
        return None
    try:
        return PersonalModel.load(path)
    except Exception as err:  # a model from another version, cut off, or not ours at all: never a crash
        log.warning("%s: ignoring the personal voice model (%s); run `bedtime-stretch enroll` again",
                    path, err or type(err).__name__)
        return None


class PersonalEngine:
    """An Engine that decodes with the general one and lets the personal model revise the decision, into
    none but the `allowed` commands (those of the engine's grammar; default all)."""

    def __init__(self, engine: object, model: PersonalModel, allowed: set[Intent] | None = None):
        self._engine = engine
        self.model = model
        self.allowed = allowed
        self.name = f"{getattr(engine, 'name', 'engine')}+personal"
        features(np.zeros(ASR_RATE // 2, np.float32))  # the ONNX models load now, not on the first command

    def decode(self, samples: np.ndarray) -> Recognition:
        rec: Recognition = self._engine.decode(samples)  # type: ignore[attr-defined]
        revised = self.model.revise(rec, samples)
        if revised.intent is not None and self.allowed is not None and revised.intent not in self.allowed:
            return rec
        return revised
