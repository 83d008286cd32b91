#!/usr/bin/env python3
"""Real people heard as the live session hears them: each recording 1 s into a fresh stream of its own room
(its quietest frames), cut by the endpointer, every piece decoded; beside the clip-wise decode that
bench_asr and the rejection's fitting use. A phrase said with pauses is several pieces live, and any
piece taken is a false accept: this is where the two differ.

Usage: .venv/bin/python scripts/bench_stream_hearing.py [--engine auto|vosk|spotter|pocketsphinx] [--personal]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from skill.audio import ASR_RATE, chunks_of, read_wav
from skill.hearing.endpointer import StreamRecognizer
from skill.hearing.recognition import Engine
from skill.hearing.recognizer import open_engine, recognize_samples
from tests import real_set

LEAD_SECONDS = 1.0
TAIL_SECONDS = 2.0


def streamed_intent(engine: Engine, path: Path) -> str | None:
    """The first command the endpointer and engine take from the recording inside its own room's noise."""
    _, stream = real_set.in_its_own_room(path, LEAD_SECONDS, TAIL_SECONDS)
    recognizer = StreamRecognizer(engine)
    heard = [r for chunk in chunks_of(stream, ASR_RATE) for r in recognizer.feed(chunk)] + recognizer.flush()
    return next((r.intent.value for r in heard if r.intent is not None), None)


def clip_intent(engine: Engine, path: Path) -> str | None:
    intent = recognize_samples(engine, *read_wav(path)).intent
    return intent.value if intent is not None else None


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:5.1f}% ({a}/{b})" if b else "    -"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--personal", action="store_true", help="with the enrolled personal model, if any")
    args = parser.parse_args()
    clips = real_set.load()
    if not clips:
        sys.exit(f"bench_stream_hearing: no recordings of real people at {real_set.real_dir()}")
    engine = open_engine(args.engine, quiet=True, personal=args.personal)
    # per source: commands, right clip-wise, right streamed, non-commands, FA clip-wise, FA streamed
    by: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
    for clip in clips:
        row = by[clip.source]
        clipped, streamed = clip_intent(engine, clip.path), streamed_intent(engine, clip.path)
        if clip.is_command:
            row[0] += 1
            row[1] += clipped == clip.intent
            row[2] += streamed == clip.intent
        else:
            row[3] += 1
            row[4] += clipped is not None
            row[5] += streamed is not None
    total = [sum(col) for col in zip(*by.values(), strict=True)]
    print(f"{'real people':14} {'commands, clip-wise':>20} {'streamed':>16} {'FA, clip-wise':>16} {'streamed':>16}")
    for source, row in [*sorted(by.items()), ("ALL", total)]:
        print(f"{source:14} {pct(row[1], row[0]):>20} {pct(row[2], row[0]):>16} "
              f"{pct(row[4], row[3]):>16} {pct(row[5], row[3]):>16}")


if __name__ == "__main__":
    main()
