#!/usr/bin/env python3
"""Fit the pocketsphinx rejection model (skill/data/rejection.json) on the tuning voices of the test set.

Usage: .venv/bin/python scripts/tune_rejection.py [--threshold P] [--dry-run]
For every clip of tests/asr_set.py whose grammar decode matched a phrase, the engine's evidence is a
positive when the phrase says what was said and a negative otherwise (another command, or no command at
all). A logistic regression is fitted on the tuning voices only; the table shows what each threshold does
on the held-out voices, which is the honest estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from skill.asr import REJECTION_FILE, Evidence, PocketsphinxEngine, RejectionModel, as_utterance  # noqa: E402
from skill.audio import read_wav  # noqa: E402
from skill.commands import all_phrases  # noqa: E402
from tests.asr_set import TUNING_VOICES, Clip, build, set_dir  # noqa: E402

L2 = 0.01
_engine: PocketsphinxEngine | None = None


def _examine(clip: Clip) -> Evidence | None:
    global _engine
    if _engine is None:
        n = len(Evidence.FEATURES)
        _engine = PocketsphinxEngine(all_phrases(), RejectionModel(np.zeros(n), np.ones(n), np.zeros(n), 0.0, 0.5))
    samples, rate = read_wav(set_dir() / clip.path)
    return _engine.examine(as_utterance(samples, rate))


def fit(x: np.ndarray, y: np.ndarray, steps: int = 5000, rate: float = 0.2) -> tuple[np.ndarray, float]:
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= rate * (x.T @ (p - y) / len(y) + L2 * w)
        b -= rate * float(np.mean(p - y))
    return w, b


def rates(clips: list[Clip], evidence: list[Evidence | None], model: RejectionModel) -> dict[str, float]:
    counts: dict[str, list[int]] = {}
    for clip, e in zip(clips, evidence, strict=True):
        accepted = e is not None and model.probability(e) >= model.threshold
        got = e.intent.value if accepted and e is not None and e.intent else "none"
        key = ("clean" if clip.noise == "clean" else "noisy") if clip.kind == "command" else "false accepts"
        hit = got == clip.intent if clip.kind == "command" else got != "none"
        counts.setdefault(key, [0, 0])
        counts[key][0] += hit
        counts[key][1] += 1
    return {k: 100 * a / n for k, (a, n) in counts.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--dry-run", action="store_true", help="print, do not write the model")
    args = ap.parse_args()
    clips = build()
    with Pool(os.cpu_count() or 1) as pool:
        evidence = pool.map(_examine, clips, chunksize=16)
    tuning = [c.voice in TUNING_VOICES or c.kind == "sound" for c in clips]
    rows = [(e.vector(), float(c.kind == "command" and e.intent is not None and e.intent.value == c.intent))
            for c, e, t in zip(clips, evidence, tuning, strict=True) if e is not None and t]
    x = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    weights, bias = fit((x - mean) / scale, y)
    print(f"fitted on {len(y)} decodes ({int(y.sum())} right), features {', '.join(Evidence.FEATURES)}")
    print("weights " + " ".join(f"{w:+.2f}" for w in weights) + f", bias {bias:+.2f}\n")
    held = [i for i, t in enumerate(tuning) if not t]
    print(f"{'threshold':>10} {'held-out clean':>15} {'noisy':>8} {'false accepts':>14}   (tuning voices)")
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        model = RejectionModel(mean, scale, weights, bias, threshold)
        h = rates([clips[i] for i in held], [evidence[i] for i in held], model)
        t = rates([c for c, k in zip(clips, tuning, strict=True) if k],
                  [e for e, k in zip(evidence, tuning, strict=True) if k], model)
        print(f"{threshold:>10.1f} {h['clean']:>14.1f}% {h['noisy']:>7.1f}% {h['false accepts']:>13.1f}%   "
              f"({t['clean']:.1f} / {t['noisy']:.1f} / {t['false accepts']:.1f})")
    if not args.dry_run:
        REJECTION_FILE.write_text(json.dumps({
            "features": list(Evidence.FEATURES), "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(),
            "weights": weights.round(6).tolist(), "bias": round(bias, 6), "threshold": args.threshold,
        }, indent=2) + "\n")
        print(f"\nwrote {REJECTION_FILE.relative_to(ROOT)} (threshold {args.threshold})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
