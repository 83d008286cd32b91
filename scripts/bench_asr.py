#!/usr/bin/env python3
"""Recognizer benchmark: accuracy by voice and noise, false accepts, latency, real-time factor, memory.

Usage: .venv/bin/python scripts/bench_asr.py [--engine auto|vosk|spotter|pocketsphinx] [--noisy-per-voice N]
Builds (once) the synthetic test set of tests/asr_set.py, reads the recordings of real people of
tests/real_set.py (../shared/realspeech-dev), and prints a table for each.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from skill.audio import ASR_RATE, chunks_of, read_wav
from skill.hearing.endpointer import StreamRecognizer
from skill.hearing.recognizer import open_engine, recognize_samples
from tests import real_set
from tests.asr_set import TUNING_VOICES, build, set_dir


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:5.1f}% ({a}/{b})" if b else "    -"


def real_table(engine: object, clips: list[real_set.RealClip], errors: list[tuple[str, ...]]) -> None:
    """Commands understood and false accepts on real people, per source; the speakers the rejection was
    fitted on (fit) apart from those it never heard (judge)."""
    by: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for clip in clips:
        samples, rate = read_wav(clip.path)
        rec = recognize_samples(engine, samples, rate)  # type: ignore[arg-type]
        got = rec.intent.value if rec.intent else "none"
        split = "fit" if clip.for_fitting else "judge"
        kind = "commands" if clip.is_command else "false accepts"
        hit = got == clip.intent if clip.is_command else got != "none"
        keys = [(clip.source, kind), (f"ALL {split}", kind)]
        if not clip.is_command and clip.isolated_word:
            keys += [(clip.source, "of isolated words"), (f"ALL {split}", "of isolated words")]
        for key in keys:
            by[key][0] += hit
            by[key][1] += 1
        if (clip.is_command and not hit) or (not clip.is_command and hit):
            errors.append((f"human-{clip.source}-{clip.speaker}", "real", clip.phrase, got, rec.text,
                           rec.reason or "false accept"))
    print(f"\n{'real people':22} {'commands':>18} {'false accepts':>18} {'of isolated words':>18}")
    sources = sorted({c.source for c in clips})
    for source in [*sources, "ALL fit", "ALL judge"]:
        row = [pct(*by[(source, k)]) for k in ("commands", "false accepts", "of isolated words")]
        print(f"{source:22} " + " ".join(f"{r:>18}" for r in row))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--noisy-per-voice", type=int, default=12)
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    clips = build(args.noisy_per_voice)
    print(f"test set: {len(clips)} clips in {set_dir()} ({time.perf_counter() - t0:.0f} s to make or load)")
    engine = open_engine(args.engine, quiet=True)
    results = []
    decode_seconds = audio_seconds = 0.0
    for clip in clips:
        samples, rate = read_wav(set_dir() / clip.path)
        started = time.process_time()
        rec = recognize_samples(engine, samples, rate)
        decode_seconds += time.process_time() - started
        audio_seconds += len(samples) / rate
        got = rec.intent.value if rec.intent else "none"
        results.append((clip, got, rec))

    by: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    fa: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    errors = []
    for clip, got, rec in results:
        if clip.kind == "command":
            cond = "clean" if clip.noise == "clean" else f"{clip.snr} dB"
            ok = got == clip.intent
            group = "held-out" if clip.voice not in TUNING_VOICES else "tuning"
            overall = "noisy" if cond != "clean" else "clean"
            keys = {(clip.voice, cond), ("ALL", cond), ("ALL", overall), (group, overall)}
            for key in keys:
                by[key][0] += ok
                by[key][1] += 1
            if not ok:
                errors.append((clip.voice, cond, clip.text, got, rec.text, rec.reason))
        else:
            accepted = got != "none"
            fa[clip.kind][0] += accepted
            fa[clip.kind][1] += 1
            fa["ALL"][0] += accepted
            fa["ALL"][1] += 1
            if accepted:
                errors.append((clip.voice, clip.kind, clip.text, got, rec.text, "false accept"))

    print(f"\nengine: {engine.name}\n")
    print(f"{'voice':22} {'clean':>18} {'20 dB':>18} {'10 dB':>18} {'5 dB':>18}")
    voices = sorted({c.voice for c in clips if c.kind == "command"})
    for voice in [*voices, "ALL"]:
        row = [pct(*by[(voice, cond)]) for cond in ("clean", "20 dB", "10 dB", "5 dB")]
        print(f"{voice:22} " + " ".join(f"{r:>18}" for r in row))
    print(f"\n{'accuracy':22} {'clean':>18} {'noisy':>18}")
    for group in ("tuning", "held-out", "ALL"):
        print(f"{group:22} {pct(*by[(group, 'clean')]):>18} {pct(*by[(group, 'noisy')]):>18}")
    print(f"\n{'false accepts':22}")
    for kind in ("speech", "sound", "ALL"):
        print(f"{kind:22} {pct(*fa[kind]):>18}")

    real = real_set.load()
    if real:
        real_table(engine, real, errors)
    else:
        print(f"\nno recordings of real people at {real_set.real_dir()}: no real-speech table")

    # latency: stream the command clips through the endpointer in 20 ms chunks
    lat = []
    stream = StreamRecognizer(engine)
    for clip, _, _ in [r for r in results if r[0].kind == "command" and r[0].noise == "clean"][:60]:
        samples, _ = read_wav(set_dir() / clip.path)
        speech_end = len(samples) / ASR_RATE - 0.4  # the clip has 0.4 s of quiet after the words
        stream.reset()
        for chunk in chunks_of(np.concatenate([samples, np.zeros(ASR_RATE, np.float32)]), ASR_RATE):
            started = time.perf_counter()
            out = stream.feed(chunk)
            compute = time.perf_counter() - started
            if out:
                decided = chunk.end
                lat.append(max(0.0, decided - speech_end) + compute)
                break
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nlatency, end of speech -> intent: p50 {1000 * np.percentile(lat, 50):.0f} ms, "
          f"p95 {1000 * np.percentile(lat, 95):.0f} ms ({len(lat)} utterances)")
    print(f"real-time factor (one core, CPU time / audio): {decode_seconds / audio_seconds:.3f}")
    print(f"peak RSS: {rss:.0f} MB")
    if args.show_errors:
        print("\nerrors:")
        for e in errors:
            print("  ", e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
