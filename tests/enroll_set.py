"""Enrollment takes and the speech to judge them on, per speaker, for tests and scripts/bench_enroll.py.

felixchen (../shared/realspeech-dev): his first takes of "stop" and "back" are the enrollment, the first
of each of his other eight words stand for the non-commands the guide asks for ("okay", "good night"),
and everything else of his is judged; the half of that whose file names hash even may be tuned on
(scripts/tune_personal.py), the other half never. Two espeak-ng voices held out of the recognizer's tuning, in noise:
each take said a little faster or slower and higher or lower, in a new stretch of pink noise, as a person
never says a word twice the same; judged on every phrase of every command and on everyday sentences.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skill.audio import ASR_RATE, read_wav
from skill.hearing.commands import PHRASES, Intent, all_phrases, parse
from skill.hearing.padding import as_utterance
from skill.hearing.personal import OTHER
from tests import asr_set, real_set

MAX_TAKES = 3
PROMPTED_OTHERS = ("okay", "good night")
"""What the spoken enrollment asks for besides the commands."""


@dataclass
class Speaker:
    name: str
    takes: dict[str, list[np.ndarray]] = field(default_factory=dict)
    """label (an Intent value or OTHER) -> 16 kHz utterances, in the order they would be said."""
    judged: list[tuple[str, np.ndarray]] = field(default_factory=list)
    """(the command's Intent value, or "none"; the utterance)."""
    prompted: list[bool] = field(default_factory=list)
    """Per judged utterance: whether it is a phrase the enrollment asks for ("stop", not "stop stretching")."""
    tuning: list[bool] = field(default_factory=list)
    """Per judged utterance: whether the personal model's thresholds may be chosen on it."""
    other_words: list[str] = field(default_factory=list)
    """Per take of OTHER: the word said (felixchen's only; [] where the judged speech is never one of them)."""
    judged_words: list[str] = field(default_factory=list)
    """Per judged utterance: the word said (with other_words)."""

    def enrollment(self, per_command: int, without: str | None = None) -> list[tuple[str, np.ndarray]]:
        """The takes, `per_command` of each command; `without`: leaving out the non-command takes of that
        word (to judge it as the other speech of a night is judged, a word never heard at enrollment)."""
        words = self.other_words or [""] * len(self.takes.get(OTHER, []))
        return [(label, s) for label, takes in self.takes.items()
                for i, s in enumerate(takes if label == OTHER else takes[:per_command])
                if label != OTHER or without is None or words[i] != without]

    def takes_of(self, word: str) -> list[np.ndarray]:
        """The non-command takes of `word` (those `enrollment(without=word)` leaves out)."""
        return [s for s, w in zip(self.takes.get(OTHER, []), self.other_words, strict=True) if w == word]

    def unseen_words(self) -> list[str]:
        """The non-command words both enrolled and judged: each judged again with its own takes left out."""
        if not self.other_words:
            return []
        return sorted(set(self.other_words) & {w for w, (want, _) in zip(self.judged_words, self.judged,
                                                                            strict=True) if want == "none"})


def felixchen() -> Speaker | None:
    files = felixchen_files()
    if not files["judged"]:
        return None
    speaker = Speaker("felixchen (real, fan)")
    for label, paths in files.items():
        if label != "judged":
            speaker.takes[label] = [as_utterance(*read_wav(p)) for p in paths]
    speaker.judged = [(intent, as_utterance(*read_wav(p))) for intent, p in files["judged"]]
    speaker.prompted = [intent != "none" for intent, _ in speaker.judged]
    speaker.tuning = [tuning_half(p) for _, p in files["judged"]]
    speaker.other_words = [felixchen_word(p) for p in files[OTHER]]
    speaker.judged_words = [felixchen_word(p) for _, p in files["judged"]]
    return speaker


def felixchen_word(path: Path) -> str:
    """The word a clip of his says (felix_<word>_<when>.wav)."""
    return path.name.split("_")[1]


def tuning_half(path: Path) -> bool:
    """Half of felixchen's judged clips, by a hash of the name (his sessions on different days fall in both)."""
    return zlib.crc32(path.name.encode()) % 2 == 0


def felixchen_files() -> dict[str, list[Any]]:
    """The real clips behind `felixchen()`: label -> the enrollment takes' paths, and "judged" -> the rest."""
    clips = sorted((c for c in real_set.load() if c.source == "felixchen"), key=lambda c: c.path.name)
    out: dict[str, list[Any]] = {"judged": []}
    words: set[str] = set()
    for c in clips:
        label = c.intent if c.is_command else OTHER
        taken = out.setdefault(label, [])
        if (c.is_command and len(taken) < MAX_TAKES) or (not c.is_command and c.phrase not in words):
            taken.append(c.path)
            words.add(c.phrase)
        else:
            out["judged"].append((c.intent, c.path))
    return out


SYNTHETIC_VOICES = ("espeak-us-m7", "espeak-gb-m3")
"""Held out of the rejection's tuning (tests/asr_set.py TUNING_VOICES)."""


def _renditions(voice: str, text: str, seeds: Iterator[int], kind: str, snr: int) -> Iterator[np.ndarray]:
    name, pitch, speed = asr_set.ESPEAK_VOICES[voice]
    for seed in seeds:
        rng = np.random.default_rng(seed)
        jitter_speed = int(speed * rng.uniform(0.9, 1.1))
        jitter_pitch = int(np.clip(pitch + rng.integers(-6, 7), 0, 99))
        speech = asr_set._espeak(text, name, jitter_pitch, jitter_speed)
        yield as_utterance(asr_set.mix(speech, kind, snr, rng), ASR_RATE)


def synthetic(voice: str) -> Speaker:
    speaker = Speaker(f"{voice} (synthetic, noise)")
    for k, intent in enumerate(Intent):
        if intent not in PHRASES:
            continue
        speaker.takes[intent.value] = list(_renditions(voice, PHRASES[intent][0], iter(range(100 + 10 * k,
                                                                                            100 + 10 * k + 3)),
                                                       "pink", 15))
    speaker.takes[OTHER] = [u for i, text in enumerate(PROMPTED_OTHERS)
                            for u in _renditions(voice, text, iter((500 + i, 510 + i)), "pink", 15)]
    for i, phrase in enumerate(all_phrases()):
        intent = parse(phrase)
        assert intent is not None
        for kind, snr, seed in (("pink", 10, 1000 + i), ("brown", 5, 2000 + i)):
            speaker.judged += [(intent.value, u) for u in _renditions(voice, phrase, iter((seed,)), kind, snr)]
            speaker.prompted.append(phrase == PHRASES[intent][0])
            speaker.tuning.append(voice not in SYNTHETIC_VOICES)
    for i, text in enumerate(t for t in [*asr_set.EVERYDAY, *asr_set.ROUTINE_SENTENCES] if t not in PROMPTED_OTHERS):
        speaker.judged += [("none", u) for u in _renditions(voice, text, iter((3000 + i,)), "pink", 10)]
        speaker.prompted.append(False)
        speaker.tuning.append(voice not in SYNTHETIC_VOICES)
    return speaker
