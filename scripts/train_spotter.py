#!/usr/bin/env python3
"""Fit the command spotter (skill/data/command_spotter.npz) and judge it on voices it never heard.

Usage: .venv/bin/python scripts/train_spotter.py [--threshold P] [--members N] [--dry-run] [--over-guide]
It learns from scripts/spotter_set.py's synthetic speech and from the real people tests/real_set.py lets
a fit hear (their non-commands: no real command is ever learnt from). The table judges it, beside
pocketsphinx with its learnt rejection, on the real JUDGE speakers and on tests/asr_set.py's held-out
synthetic voices, at several thresholds; the model is written with --threshold.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import spotter_set  # noqa: E402

from skill.audio import ASR_RATE, read_wav  # noqa: E402
from skill.hearing.commands import Intent, all_phrases  # noqa: E402
from skill.hearing.padding import as_utterance  # noqa: E402
from skill.hearing.pocketsphinx_engine import PocketsphinxEngine  # noqa: E402
from skill.hearing.spotter import NONE, SPOTTER_FILE, Spotter, summary  # noqa: E402
from tests import real_set  # noqa: E402
from tests.asr_set import TUNING_VOICES, build, over_the_guide, set_dir  # noqa: E402

LABELS = (*(i.value for i in Intent), NONE)
HIDDEN = 64
EPOCHS = 400
L2 = 1e-3
LEARNING_RATE = 3e-3


def fit_member(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """One network (standardised inputs -> HIDDEN ReLUs -> softmax), full-batch Adam on the cross-entropy
    with an L2 penalty: (hidden weights, hidden biases, out weights, out biases)."""
    rng = np.random.default_rng(seed)
    d, k = x.shape[1], len(LABELS)
    params = [rng.normal(0, 1 / np.sqrt(d), (d, HIDDEN)), np.zeros(HIDDEN),
              rng.normal(0, 1 / np.sqrt(HIDDEN), (HIDDEN, k)), np.zeros(k)]
    first, second = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    truth = np.eye(k)[y]
    for step in range(1, EPOCHS + 1):
        w1, b1, w2, b2 = params
        hidden = np.maximum(x @ w1 + b1, 0)
        z = hidden @ w2 + b2
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        err = (p - truth) / len(y)
        back = err @ w2.T * (hidden > 0)
        grads = [x.T @ back + L2 * w1, back.sum(0), hidden.T @ err + L2 * w2, err.sum(0)]
        for i, g in enumerate(grads):
            first[i] = 0.9 * first[i] + 0.1 * g
            second[i] = 0.999 * second[i] + 0.001 * g**2
            params[i] -= LEARNING_RATE * (first[i] / (1 - 0.9**step)) / (np.sqrt(second[i] / (1 - 0.999**step)) + 1e-8)
    return tuple(params)


def fit(x: np.ndarray, y: np.ndarray, members: int, threshold: float) -> Spotter:
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    nets = [fit_member((x - mean) / scale, y, seed) for seed in range(members)]
    hidden_weights, hidden_biases, out_weights, out_biases = (np.stack([n[i] for n in nets]) for i in range(4))
    return Spotter(LABELS, mean, scale, hidden_weights, hidden_biases, out_weights, out_biases, threshold)


def _as_heard(clip: str | np.ndarray) -> np.ndarray:
    """A clip (a file, or 16 kHz samples) as a session hands it on: padded with its own room."""
    return as_utterance(*(read_wav(clip) if isinstance(clip, str) else (clip, ASR_RATE)))


def _utterance_features(clip: str | np.ndarray) -> np.ndarray:
    from skill.hearing.embedding import features

    return features(_as_heard(clip))


_pocketsphinx_engine: PocketsphinxEngine | None = None


def _pocketsphinx(clip: str | np.ndarray) -> str:
    """What the recognizer the spotter replaced makes of a clip (a worker's own engine)."""
    global _pocketsphinx_engine
    if _pocketsphinx_engine is None:
        _pocketsphinx_engine = PocketsphinxEngine(all_phrases())
    rec = _pocketsphinx_engine.decode(_as_heard(clip))
    return rec.intent.value if rec.intent else NONE


OVER_THE_GUIDE_DB = 10
"""The held-out voices' commands are also judged with one of the guide's sentences this far under them."""


def judged() -> list[tuple[str, str, str | np.ndarray]]:
    """(group, truth, clip: a path or 16 kHz samples) of every clip that judges: real JUDGE speakers,
    asr_set's held-out voices, clean, in noise and over the guide's voice."""
    out: list[tuple[str, str, str | np.ndarray]] = []
    for r in real_set.load():
        if not r.for_fitting:
            out.append(("real commands" if r.is_command else f"real {r.source}", r.intent, str(r.path)))
    clips = build()
    for c in clips:
        if c.kind == "command" and c.voice not in TUNING_VOICES:
            out.append(("synthetic " + ("clean" if c.noise == "clean" else "noisy"), c.intent, str(set_dir() / c.path)))
        elif c.kind != "command":
            out.append((f"synthetic {c.kind}", "none", str(set_dir() / c.path)))
    out += [("synthetic over guide", c.intent, samples) for c, samples in over_the_guide(clips, OVER_THE_GUIDE_DB)]
    return out


def verdict(spotter: Spotter, embeddings: np.ndarray) -> str:
    if len(embeddings) == 0:
        return NONE
    label, confidence, _ = spotter.best_command(summary(embeddings))
    return label if confidence >= spotter.threshold else NONE


def score(rows: list[tuple[str, str, str | np.ndarray]], got: list[str]) -> dict[str, tuple[int, int]]:
    """Per group: (right, of) for commands; (taken, of) for non-commands."""
    out: dict[str, list[int]] = {}
    for (group, truth, _), g in zip(rows, got, strict=True):
        cell = out.setdefault(group if truth != NONE or group.startswith("synthetic") else "real non-commands", [0, 0])
        cell[0] += (g == truth) if truth != NONE else (g != NONE)
        cell[1] += 1
    return {k: (a, n) for k, (a, n) in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threshold", type=float, default=0.45)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--dry-run", action="store_true", help="print, do not write the model")
    ap.add_argument("--over-guide", action="store_true",
                    help="also learn from everything said over the guide's voice (see spotter_set.DEFAULT_ROUNDS)")
    args = ap.parse_args()
    jobs, embeddings = spotter_set.build(args.over_guide)
    real_negatives = [str(r.path) for r in real_set.load() if r.for_fitting and not r.is_command]
    rows = judged()
    with Pool(os.cpu_count() or 1) as pool:
        real_embeddings = pool.map(_utterance_features, real_negatives, chunksize=8)
        judged_embeddings = pool.map(_utterance_features, [p for _, _, p in rows], chunksize=8)
        pocketsphinx = pool.map(_pocketsphinx, [p for _, _, p in rows], chunksize=8)
    pairs = [(e, label) for (_, label, _, _), e in zip(jobs, embeddings, strict=True)]
    pairs += [(e, NONE) for e in real_embeddings]
    kept = [(summary(e), LABELS.index(label)) for e, label in pairs if len(e)]
    x, y = np.array([v for v, _ in kept]), np.array([label for _, label in kept])
    print(f"fitting {args.members} networks on {len(y)} clips ({int(np.sum(y != len(LABELS) - 1))} commands, "
          f"{len(real_embeddings)} of them real people's non-commands)", file=sys.stderr)
    spotter = fit(x, y, args.members, args.threshold)
    groups = list(score(rows, pocketsphinx))
    print(f"{'':22}" + "".join(f"{g:>22}" for g in groups))

    def line(name: str, got: list[str]) -> None:
        s = score(rows, got)
        print(f"{name:22}" + "".join(f"{f'{s[g][0]}/{s[g][1]} ({100 * s[g][0] / s[g][1]:.0f}%)':>22}" for g in groups))

    line("pocketsphinx", pocketsphinx)
    for threshold in (0.3, 0.35, 0.4, 0.45, 0.5, 0.6):
        at = replace(spotter, threshold=threshold)
        line(f"spotter at {threshold}", [verdict(at, e) for e in judged_embeddings])
    print("(commands: understood; non-commands: taken for a command)")
    if not args.dry_run:
        spotter.save(SPOTTER_FILE)
        print(f"wrote {SPOTTER_FILE.relative_to(ROOT)} (threshold {args.threshold})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
