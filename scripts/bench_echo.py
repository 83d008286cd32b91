#!/usr/bin/env python3
"""Echo cancellers compared on the same session tapes (scripts/make_aec_tapes.py): each tape is replayed
through the listener (scripts/replay_tape.py: the same delay tracking, recognizer and judgement as live)
with each canceller, and the table gives

  ERLE          echo removed, dB: the mic's energy over what the listener handed the recognizer, on the
                10 ms frames where the guide's echo was there and the person was not talking, in spans of
                time after the first sound the speaker played, and overall
  converged     seconds from the first chime until a half-second of echo first has > 10 dB removed
  heard         the commands said over the guide that the session would have acted on (first: the
                "pause" said over "Let's begin." and the first chime), commands said in the quiet, and
                commands posted that nobody said
  CPU           the canceller's own CPU time per second of audio it processed (real-time factor)

Usage: .venv/bin/python scripts/bench_echo.py [TAPE.npz ...] [--cancellers home,webrtc,...]
(default: every tape in ~/.cache/bedtime-stretch/aec-tapes)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from replay_tape import replay  # noqa: E402

from skill.audio import ASR_RATE, AudioChunk  # noqa: E402
from skill.hearing.commands import parse  # noqa: E402
from skill.hearing.echo_library import (  # noqa: E402
    HomeCanceller,
    LiveKitCanceller,
    SafeCanceller,
    SpeexCanceller,
    WebRtcCanceller,
)
from skill.paths import cache_dir  # noqa: E402
from skill.hearing.tape import load  # noqa: E402

CANCELLERS = {
    "home": HomeCanceller,
    "webrtc": WebRtcCanceller,
    "webrtc-no-ns": lambda: WebRtcCanceller(noise_suppression=False),
    "livekit": LiveKitCanceller,
    "speex": SpeexCanceller,
}
SPANS = ((0, 2), (2, 5), (5, 20), (20, float("inf")))
FRAME = ASR_RATE // 100
TALK_BEFORE, TALK_AFTER = 0.2, 0.4
"""Frames this near a command said are the person's, not the echo's."""
HEARD_WITHIN = 3.5
"""A command posted this soon after its words ended was heard."""


class Timed:
    """The canceller, with its CPU time counted."""

    def __init__(self, inner):  # type: ignore[no-untyped-def]
        self.inner = inner
        self.cpu = 0.0
        self.samples = 0

    @property
    def block(self) -> int:
        return self.inner.block

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        started = time.process_time()
        out = self.inner.process(mic, ref)
        self.cpu += time.process_time() - started
        self.samples += len(mic)
        return out


class Heard:
    """Wraps the recognizer: keeps what the listener handed it (the cancelled microphone, in order)."""

    def __init__(self, inner):  # type: ignore[no-untyped-def]
        self.inner = inner
        self.audio: list[np.ndarray] = []

    def feed(self, chunk: AudioChunk) -> list:
        self.audio.append(chunk.samples())
        return self.inner.feed(chunk)


@dataclass
class Result:
    erle: list[float]
    overall: float
    engaged: float
    converged: float | None
    engaged_conv: float | None
    over_guide: tuple[int, int]
    first: bool | None
    quiet: tuple[int, int]
    false: int
    latency: float
    rtf: float
    fell_back: bool
    notes: list[str] = field(default_factory=list)


def frame_energy(x: np.ndarray) -> np.ndarray:
    n = len(x) // FRAME
    return np.sum(x[: n * FRAME].astype(np.float64).reshape(n, FRAME) ** 2, axis=1)


def erle_db(mic: np.ndarray, out: np.ndarray) -> float:
    return float(10 * np.log10((np.sum(mic) + 1e-12) / (np.sum(out) + 1e-12))) if len(mic) else float("nan")


def time_to_10db(since: float, starts: np.ndarray, echo: np.ndarray, mic_e: np.ndarray,
                 out_e: np.ndarray) -> float | None:
    """Seconds from `since` until half a second of echo first has more than 10 dB taken out."""
    for t in np.arange(since, starts[-1], 0.1):
        window = echo & (starts >= t) & (starts < t + 0.5)
        if window.sum() >= 20 and erle_db(mic_e[window], out_e[window]) > 10:
            return float(t - since)
    return None


def bench(tape: Path, name: str, engine: str) -> Result:
    tracks, marks = load(tape)
    meta = json.loads(tape.with_suffix(".json").read_text())
    origin = min([at for at, _ in tracks["mic"][:1]] + [at for at, *_ in marks[:1]])
    inner = CANCELLERS[name]()
    timed = Timed(inner if name == "home" else SafeCanceller(inner))
    heard: list[Heard] = []

    def wrap(recognizer):  # type: ignore[no-untyped-def]
        heard.append(Heard(recognizer))
        return heard[0]

    ignored: list[tuple[float, str, str]] = []
    posted = replay(tape, engine, canceller=timed, recognizer=wrap, ignored=ignored)
    mic = np.concatenate([s for _, s in tracks["mic"]])
    out = np.concatenate(heard[0].audio)
    n = min(len(mic), len(out)) // FRAME * FRAME
    mic_e, out_e = frame_energy(mic[:n]), frame_energy(out[:n])
    # each frame's time on the monotonic clock, from its chunk's
    starts = np.concatenate([at + np.arange(len(s)) / ASR_RATE for at, s in tracks["mic"]])[: n : FRAME]
    ref = np.concatenate([s for _, s in tracks["ref"]])
    ref_t = np.concatenate([at + np.arange(len(s)) / ASR_RATE for at, s in tracks["ref"]])
    sounding = ref_t[np.abs(ref) > 1e-3]
    first_sound = float(sounding[0])
    # echo frames: the speaker sounded within the last half second, the mic well over its room tone, and no
    # command being said
    recent = np.searchsorted(sounding, starts) - np.searchsorted(sounding, starts - 0.5) > 0
    floor = np.percentile(10 * np.log10(mic_e / FRAME + 1e-12), 10)
    loud = 10 * np.log10(mic_e / FRAME + 1e-12) > floor + 15
    talking = np.zeros(len(starts), bool)
    for said in meta["said"]:
        talking |= (starts > said["start"] - TALK_BEFORE) & (starts < said["end"] + TALK_AFTER)
    echo = recent & loud & ~talking
    since = starts - first_sound
    erle = [erle_db(mic_e[echo & (since >= a) & (since < b)], out_e[echo & (since >= a) & (since < b)])
            for a, b in SPANS]
    overall = erle_db(mic_e[echo], out_e[echo])
    # the canceller's own start: the first frame it changed (before, the listener was finding the delay)
    changed = np.nonzero(np.abs(out[:n] - mic[:n]) > 1e-6)[0]
    engaged = float(starts[changed[0] // FRAME]) if len(changed) else float("inf")
    engaged_erle = erle_db(mic_e[echo & (starts >= engaged)], out_e[echo & (starts >= engaged)])
    chimes = [at for at, what, _, text in marks if what == "handed" and text == ""]
    converged = time_to_10db(chimes[0], starts, echo, mic_e, out_e) if chimes else None
    engaged_conv = time_to_10db(engaged, starts, echo, mic_e, out_e)
    # commands: heard if posted with the same intent soon after the words ended. The tape goes on as the
    # live session went: if it reacted (spoke) before this replay's listener decided, that listener ignores
    # the command as said while the guide talked; it was heard all the same, only later.
    reacted = [at - origin for at, what, _, _ in marks if what == "handed"]
    over_ok = over_all = quiet_ok = quiet_all = 0
    first = None
    matched: set[int] = set()
    latencies = []
    notes = []
    for said in meta["said"]:
        end = said["end"] - origin
        hit = [(t, j) for j, (t, intent, _) in enumerate(posted)
               if intent == said["word"] and end - 0.5 <= t <= end + HEARD_WITHIN and j not in matched]
        hit += [(t, -1) for t, text, why in ignored if str(parse(text)) == said["word"] and why == "guide talking"
                and end - 0.5 <= t <= end + HEARD_WITHIN and any(end < r < t for r in reacted)]
        ok = bool(hit)
        if hit:
            t, j = min(hit)
            matched.add(j)
            latencies.append(t - end)
        if said["over"]:
            over_all += 1
            over_ok += ok
            if said["over"] == "Let's begin.":
                first = ok
            if not ok:
                notes.append(f"missed {said['word']} ({said['source'][:10]}) at {said['start'] - origin:.1f}s")
        elif said["word"] != "start":
            quiet_all += 1
            quiet_ok += ok
    false = [f"false {intent} at {t:.1f}s" for j, (t, intent, _) in enumerate(posted)
             if j not in matched and intent != "start"]
    notes += false
    fell_back = isinstance(timed.inner, SafeCanceller) and timed.inner.fell_back
    return Result(erle, overall, engaged_erle, converged, engaged_conv, (over_ok, over_all), first,
                  (quiet_ok, quiet_all), len(false), float(np.median(latencies)) if latencies else float("nan"),
                  timed.cpu / max(timed.samples / ASR_RATE, 1e-9), fell_back, notes)


def seconds(t: float | None) -> str:
    return "never" if t is None else f"{t:.1f}s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tapes", nargs="*", type=Path)
    ap.add_argument("--cancellers", default=",".join(CANCELLERS))
    ap.add_argument("--engine", default="pocketsphinx")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger().addFilter(lambda r: setattr(r, "session_time", 0.0) or True)
    tapes = args.tapes or sorted((cache_dir() / "aec-tapes").glob("*.npz"))
    tapes = [t for t in tapes if not t.name.endswith(".part.npz")]
    spans = [f"{a:g}-{b:g}s" if b != float("inf") else f"{a:g}s+" for a, b in SPANS]
    head = ["tape", "canceller", *[f"ERLE {s}" for s in spans], "ERLE all", "ERLE eng.", "conv. chime",
            "conv. eng.", "first", "over guide", "quiet", "false", "latency", "CPU RTF"]
    rows = []
    for tape in tapes:
        for name in args.cancellers.split(","):
            try:
                r = bench(tape, name, args.engine)
            except (ImportError, OSError) as err:  # the library is not installed here
                rows.append([tape.stem, f"{name} (cannot load: {err})"] + [""] * (len(head) - 2))
                continue
            first = "-" if r.first is None else ("yes" if r.first else "no")
            rows.append([tape.stem, name + (" (fell back to home)" if r.fell_back else ""),
                         *[f"{e:.1f}" for e in r.erle], f"{r.overall:.1f}", f"{r.engaged:.1f}", seconds(r.converged),
                         seconds(r.engaged_conv), first, f"{r.over_guide[0]}/{r.over_guide[1]}",
                         f"{r.quiet[0]}/{r.quiet[1]}", str(r.false), f"{1000 * r.latency:.0f}ms", f"{r.rtf:.4f}"])
            print("  ".join(rows[-1]), "|", "; ".join(r.notes), file=sys.stderr, flush=True)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
