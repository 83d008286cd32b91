#!/usr/bin/env python3
"""Feed a session tape (BEDTIME_STRETCH_TAPE=FILE.npz) back through the listener, offline: the same
microphone audio, reference and playback times, on a simulated clock. Prints the listener's log and the
commands it would have posted, so a self-trigger or a missed barge-in seen once live can be studied again.

    scripts/replay_tape.py session.npz [--engine pocketsphinx] [--from SECONDS] [--to SECONDS]
"""

from __future__ import annotations

import argparse
import heapq
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skill.audio import ASR_RATE, AudioChunk
from skill.hearing.echo_library import Canceller
from skill.hearing.listener import Listener, RecognizerLike
from skill.hearing.recognizer import open_recognizer
from skill.hearing.reference import ReferenceBuffer
from skill.hearing.self_hearing import PlaybackTracker, SelfHearingFilter
from skill.hearing.tape import load


def in_order(track: list[tuple[float, np.ndarray]], audio_in: bool) -> list[tuple[float, float, np.ndarray]]:
    """(when to replay it, its time, samples) for each chunk of a track, in the order it was recorded: at the
    moment the live session had it (with `audio_in`, once its last sample was in), but never before the chunk
    recorded ahead of it. Ordered by those moments alone, a microphone chunk of twice the usual length (the
    resampler's output comes unevenly) ended after the next one, whose block was stamped 30 ms after it
    rather than 40; the two were fed the other way round, and 100 ms of the guide's voice came out garbled
    enough to be taken for "start" (the live session, fed in order, heard nothing)."""
    out: list[tuple[float, float, np.ndarray]] = []
    last = -np.inf
    for at, samples in track:
        last = max(last, at + (len(samples) / ASR_RATE if audio_in else 0.0))
        out.append((last, at, samples))
    return out


def replay(path: Path, engine: str = "pocketsphinx", start: float = 0.0, end: float = float("inf"), *,
           canceller: Canceller | None = None,
           recognizer: Callable[[RecognizerLike], RecognizerLike] | None = None,
           ignored: list[tuple[float, str, str]] | None = None) -> list[tuple[float, str, str]]:
    """The commands (session seconds, intent, words) the listener posts when it hears the tape again.

    `canceller`: the echo canceller to use (default: the listener's own choice); `recognizer` wraps the
    recognizer (scripts/bench_echo.py sees there what the canceller left); `ignored` gets the commands
    heard but ignored (session seconds, words, why)."""
    tracks, marks = load(path)
    origin = min([at for at, _ in tracks["mic"][:1]] + [at for at, *_ in marks[:1]])
    now = [origin]

    def stamp(record: logging.LogRecord) -> bool:
        record.session_time = now[0] - origin
        return True

    for handler in logging.getLogger().handlers:
        handler.addFilter(stamp)

    def clock() -> float:
        return now[0]

    tracker = PlaybackTracker(clock=clock)
    reference = ReferenceBuffer()
    posted: list[tuple[float, str, str]] = []
    asr: RecognizerLike = open_recognizer(engine, quiet=True)
    if recognizer is not None:
        asr = recognizer(asr)
    listener = Listener(asr, SelfHearingFilter(tracker),
                        post=lambda intent, text: posted.append((now[0] - origin, str(intent), text)),
                        reference=reference, clock=clock, canceller=canceller,
                        on_ignored=None if ignored is None else
                        lambda text, why: ignored.append((now[0] - origin, text, why)))
    queue: list[tuple[float, int, str, object]] = []
    for i, (when, at, samples) in enumerate(in_order(tracks["ref"], audio_in=False)):
        queue.append((when, i, "ref", (at, samples)))
    for i, (when, at, samples) in enumerate(in_order(tracks["mic"], audio_in=True)):
        queue.append((when, i, "mic", (at, samples)))
    for i, (at, what, seq, text) in enumerate(marks):
        queue.append((at, i, what, (seq, text)))
    heapq.heapify(queue)
    frames = 0
    while queue:
        when, _, kind, item = heapq.heappop(queue)
        now[0] = when
        if kind == "ref":
            reference.write(item[1], item[0])  # type: ignore[index]
        elif kind == "handed":
            tracker.handed(*item)  # type: ignore[misc]
        elif kind == "done":
            tracker.done(item[0])  # type: ignore[index]
        elif kind == "gap":
            reference.mark_gap(when, when + float(item[1]))  # type: ignore[index]
        else:
            at, samples = item  # type: ignore[misc]
            chunk = AudioChunk.from_samples(samples, ASR_RATE, timestamp=frames / ASR_RATE, captured_at=at)
            frames += len(samples)
            if start <= at - origin <= end:
                listener.feed(chunk)
    return posted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tape", type=Path)
    parser.add_argument("--engine", default="pocketsphinx")
    parser.add_argument("--from", dest="start", type=float, default=0.0)
    parser.add_argument("--to", dest="end", type=float, default=float("inf"))
    parser.add_argument("--debug", action="store_true", help="the listener's debug log too")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(session_time)8.2f %(message)s")
    for t, intent, text in replay(args.tape, args.engine, args.start, args.end):
        print(f"{t:8.2f}\t{intent}\t{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
