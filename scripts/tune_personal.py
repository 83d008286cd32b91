#!/usr/bin/env python3
"""Choose the personal model's thresholds (skill/hearing/personal.py) on the tuning voices and felixchen's tuning
half, never on what else scripts/bench_enroll.py judges: each speaker enrolled with 1, 2 and 3 takes as
tests/enroll_set.py does, then every combination scored on understood (all phrases, and the enrolled ones)
less four times the false accepts. Prints the best few; the constants in skill/hearing/personal.py are set
by hand from the first.

Usage: .venv/bin/python scripts/tune_personal.py [--voices felixchen,espeak-us,espeak-us-f3]
                                                 [--engine auto|spotter|pocketsphinx]
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from skill.hearing import personal  # noqa: E402
from skill.hearing.personal import Judgement, PersonalModel  # noqa: E402
from skill.hearing.recognition import Recognition  # noqa: E402
from skill.hearing.recognizer import open_engine  # noqa: E402
from tests import enroll_set  # noqa: E402

GRID = {
    "ACCEPT_RATIO": (0.75, 0.8, 0.85),
    "ACCEPT_SPREAD": (2.2, 2.6),
    "LENGTH_SLACK": (0, 1, 2),
    "REJECT_RATIO": (0.9, 0.8),
    "REJECT_NEAR": (float("inf"), 2.0, 1.8),
    "AGREE_RELAX": (1.0, 1.2),
    "HEARD_RELAX": (1.2, 1.3, 1.4),
    "MIN_TRUST": (0.5, 0.34, 0.0),
    "SWITCH_RATIO": (0.7,),
}
"""Each from the strictest (taking fewer commands, turning down more) to the loosest: ties go to the first."""
FALSE_WEIGHT = 4
"""A false accept costs this many misses (share for share): worse, for a person in bed, than a miss."""


@dataclass
class Case:
    want: str
    prompted: bool
    general: Recognition
    judgement: Judgement | None
    model: Replay


class Replay(PersonalModel):
    """The model's rules over judgements measured once (the embeddings are the slow part)."""

    pending: Judgement | None = None

    def judge(self, samples: np.ndarray, max_windows: int | None = None) -> Judgement | None:
        return self.pending

    @classmethod
    def of(cls, model: PersonalModel) -> Replay:
        return cls(model.labels, model.templates, model.spreads, model.heard, model.took)


def score(cases: list[Case]) -> float:
    ok, ok_prompted, false, commands, prompted, others = counts(cases)
    return (ok / commands if commands else 0.0) + (ok_prompted / prompted if prompted else 0.0) \
        - FALSE_WEIGHT * false / max(1, others)


def counts(cases: list[Case]) -> tuple[int, int, int, int, int, int]:
    """Commands understood, enrolled phrases understood, false accepts, and how many of each there were."""
    ok = ok_prompted = false = 0
    for case in cases:
        object.__setattr__(case.model, "pending", case.judgement)
        rec = case.model.revise(case.general, np.zeros(0, np.float32))
        right = rec.intent is not None and rec.intent.value == case.want
        ok += case.want != "none" and right
        ok_prompted += case.want != "none" and case.prompted and right
        false += case.want == "none" and rec.intent is not None
    commands = sum(c.want != "none" for c in cases)
    prompted = sum(c.want != "none" and c.prompted for c in cases)
    return ok, ok_prompted, false, commands, prompted, len(cases) - commands


def measure(names: list[str], engine_name: str = "auto") -> list[tuple[str, list[Case]]]:
    """Per tuning voice and number of takes: the judgements of the voice's tuning part; and, for a speaker
    whose judged non-commands are words also enrolled (felixchen), those and the word's own take judged by
    models enrolled without that word's takes, as the other speech of a night would be."""
    engine = open_engine(engine_name, quiet=True, personal=False)
    voices: list[tuple[str, list[Case]]] = []
    for name in names:
        speaker = enroll_set.felixchen() if name == "felixchen" else enroll_set.synthetic(name)
        if speaker is None:
            continue
        tuned = [(want, u, prompted) for (want, u), prompted, tuning
                 in zip(speaker.judged, speaker.prompted, speaker.tuning, strict=True) if tuning]
        if not tuned:
            raise SystemExit(f"{name}: held out of tuning (tests/enroll_set.py)")
        general = [engine.decode(u) for _, u, _ in tuned]
        words = [w for w, t in zip(speaker.judged_words or [""] * len(speaker.judged), speaker.tuning, strict=True)
                 if t]
        for takes in (1, 2, 3):
            model = PersonalModel.build(speaker.enrollment(takes), engine)
            replay = Replay.of(model)
            voices.append((f"{name}, {takes} take(s)", [Case(want, prompted, rec, model.judge(u), replay)
                                                        for (want, u, prompted), rec in zip(tuned, general,
                                                                                            strict=True)]))
            unseen: list[Case] = []
            for word in speaker.unseen_words():
                without = PersonalModel.build(speaker.enrollment(takes, without=word), engine)
                unseen += [Case(want, prompted, rec, without.judge(u), Replay.of(without))
                           for (want, u, prompted), rec, w in zip(tuned, general, words, strict=True)
                           if want == "none" and w == word]
                # and the word's own enrollment take, a word this model never heard either: it is in
                # neither half, and without it the tuning half held only 13 such clips, none taken
                unseen += [Case("none", False, engine.decode(u), without.judge(u), Replay.of(without))
                           for u in speaker.takes_of(word)]
            if unseen:
                voices.append((f"{name}, {takes} take(s), words not enrolled", unseen))
        print(f"{name}: {len(tuned)} utterances", file=sys.stderr)
    return voices


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", default="felixchen,espeak-us,espeak-us-f3")
    parser.add_argument("--cache", type=Path, help="keep the judgements in this file (and read them from it)")
    parser.add_argument("--engine", default="auto", help="the general recognizer (default: as a session picks it)")
    args = parser.parse_args()
    if args.cache and args.cache.exists():
        with args.cache.open("rb") as f:
            voices = pickle.load(f)
    else:
        voices = measure(args.voices.split(","), args.engine)
        if args.cache:
            with args.cache.open("wb") as f:
                pickle.dump(voices, f)
    results = []
    for values in itertools.product(*GRID.values()):
        for key, value in zip(GRID, values, strict=True):
            setattr(personal, key, value)
        results.append((float(np.mean([score(cases) for _, cases in voices])), values))
    results.sort(key=lambda r: -r[0])
    for value, combination in results[:5]:
        print(f"{value:.3f}  " + "  ".join(f"{k}={v}" for k, v in zip(GRID, combination, strict=True)))
    for key, value in zip(GRID, results[0][1], strict=True):
        setattr(personal, key, value)
    for name, cases in voices:
        ok, ok_prompted, false, commands, prompted, others = counts(cases)
        print(f"  {name}: understood {ok}/{commands}, enrolled phrases {ok_prompted}/{prompted}, "
              f"false accepts {false}/{others}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
