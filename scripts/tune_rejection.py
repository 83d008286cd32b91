#!/usr/bin/env python3
"""Fit the pocketsphinx rejection model (skill/data/rejection.json) on synthetic and real voices.

Usage: .venv/bin/python scripts/tune_rejection.py [--threshold P] [--dry-run] [--evidence FILE]
For every clip of tests/asr_set.py (synthetic voices) and tests/real_set.py (real people) whose grammar
decode matched a phrase, the engine's evidence is a positive when the phrase says what was said and a
negative otherwise (another command, or no command at all). A logistic regression is fitted on the
synthetic tuning voices and the real FIT speakers only; the table shows what each threshold does on the
held-out synthetic voices and the real JUDGE speakers, which is the honest estimate. `--evidence FILE`
keeps the decodes (minutes of CPU) to fit again without decoding.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from skill.audio import read_wav  # noqa: E402
from skill.hearing.commands import Intent, all_phrases  # noqa: E402
from skill.hearing.padding import as_utterance  # noqa: E402
from skill.hearing.pocketsphinx_engine import PocketsphinxEngine  # noqa: E402
from skill.hearing.rejection import REJECTION_FILE, Evidence, RejectionModel  # noqa: E402
from tests import real_set  # noqa: E402
from tests.asr_set import TUNING_VOICES, build, set_dir  # noqa: E402

L2 = 0.01
_engine: PocketsphinxEngine | None = None


@dataclass(frozen=True)
class Sample:
    """One clip, synthetic or real, as the fit sees it."""

    path: str
    intent: str
    kind: str
    """command, speech or sound."""
    group: str
    """clean or noisy (commands), or the kind of non-command."""
    fit: bool
    """Heard by the fit (tuning voices, real FIT speakers) or judging it."""
    real: bool
    isolated: bool
    """A single word said on its own."""


def samples() -> list[Sample]:
    out = [Sample(str(set_dir() / c.path), c.intent, c.kind, "clean" if c.noise == "clean" else "noisy",
                  c.voice in TUNING_VOICES or c.kind == "sound", False, " " not in c.text.strip()) for c in build()]
    for r in real_set.load():
        kind = "command" if r.is_command else "speech"
        out.append(Sample(str(r.path), r.intent, kind, "clean" if r.is_command else r.source, r.for_fitting, True,
                          r.isolated_word))
    return out


def _examine(path: str) -> Evidence | None:
    global _engine
    if _engine is None:
        n = len(Evidence.FEATURES)
        _engine = PocketsphinxEngine(all_phrases(), RejectionModel(np.zeros(n), np.ones(n), np.zeros(n), 0.0, 0.5))
    audio, rate = read_wav(path)
    return _engine.examine(as_utterance(audio, rate))


def evidence_for(clips: list[Sample], cache: Path | None) -> list[Evidence | None]:
    if cache is not None and cache.exists():
        stored = json.loads(cache.read_text())
        if stored["features"] == list(Evidence.FEATURES) and stored["paths"] == [c.path for c in clips]:
            return [None if e is None else Evidence(**{**e, "intent": Intent(e["intent"])}) for e in stored["evidence"]]
    with Pool(os.cpu_count() or 1) as pool:
        evidence = pool.map(_examine, [c.path for c in clips], chunksize=8)
    if cache is not None:
        cache.write_text(json.dumps({"features": list(Evidence.FEATURES), "paths": [c.path for c in clips],
                                     "evidence": [None if e is None else {**asdict(e), "intent": e.intent}
                                                  for e in evidence]}))
    return evidence


def fit(x: np.ndarray, y: np.ndarray, steps: int = 5000, rate: float = 0.2) -> tuple[np.ndarray, float]:
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= rate * (x.T @ (p - y) / len(y) + L2 * w)
        b -= rate * float(np.mean(p - y))
    return w, b


def rates(clips: list[Sample], evidence: list[Evidence | None], model: RejectionModel) -> dict[str, float]:
    """Commands understood (clean, noisy) and false accepts (all, isolated words), in per cent."""
    counts: dict[str, list[int]] = {}
    for clip, e in zip(clips, evidence, strict=True):
        accepted = e is not None and e.command_length and model.probability(e) >= model.threshold
        got = e.intent.value if accepted and e is not None and e.intent else "none"
        keys = [clip.group] if clip.kind == "command" else ["false accepts"] + (["words"] if clip.isolated else [])
        for key in keys:
            counts.setdefault(key, [0, 0])
            counts[key][0] += (got == clip.intent) if clip.kind == "command" else (got != "none")
            counts[key][1] += 1
    return {k: 100 * a / n for k, (a, n) in counts.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--dry-run", action="store_true", help="print, do not write the model")
    ap.add_argument("--evidence", type=Path, help="keep the decodes in FILE (and reuse them when it matches)")
    args = ap.parse_args()
    clips = samples()
    evidence = evidence_for(clips, args.evidence)
    rows = [(e.vector(), float(c.kind == "command" and e.intent is not None and e.intent.value == c.intent))
            for c, e in zip(clips, evidence, strict=True)
            if e is not None and c.fit and e.command_length]
    x = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    weights, bias = fit((x - mean) / scale, y)
    print(f"fitted on {len(y)} decodes ({int(y.sum())} right), features {', '.join(Evidence.FEATURES)}")
    print("weights " + " ".join(f"{w:+.2f}" for w in weights) + f", bias {bias:+.2f}\n")

    def part(real: bool, fit_part: bool) -> tuple[list[Sample], list[Evidence | None]]:
        chosen = [i for i, c in enumerate(clips) if c.real == real and c.fit == fit_part]
        return [clips[i] for i in chosen], [evidence[i] for i in chosen]

    print(f"{'':10} {'synthetic held-out voices':^32} {'real people, judge speakers':^34}")
    print(f"{'threshold':>10} {'clean':>9} {'noisy':>9} {'false acc':>11}  {'commands':>10} {'false acc':>11} "
          f"{'of words':>10}")
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        model = RejectionModel(mean, scale, weights, bias, threshold)
        h = rates(*part(False, False), model)
        r = rates(*part(True, False), model)
        print(f"{threshold:>10.1f} {h['clean']:>8.1f}% {h['noisy']:>8.1f}% {h['false accepts']:>10.1f}%  "
              f"{r.get('clean', 0):>9.1f}% {r['false accepts']:>10.1f}% {r.get('words', 0):>9.1f}%")
    if not args.dry_run:
        REJECTION_FILE.write_text(json.dumps({
            "features": list(Evidence.FEATURES), "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(),
            "weights": weights.round(6).tolist(), "bias": round(bias, 6), "threshold": args.threshold,
        }, indent=2) + "\n")
        print(f"\nwrote {REJECTION_FILE.relative_to(ROOT)} (threshold {args.threshold})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
