#!/usr/bin/env python3
"""Barge-in by voice and by moment: whole sessions on the virtual devices with the speaker looped into the
microphone, commands said by voices the recognizer was not tuned on, over the guide's speech, over a count
or breath cue, and in silence. Prints, per voice and moment: heard the first time, heard within 3 tries,
response latency; and per voice: self-triggered commands (any command nobody said).

Usage: eval "$(scripts/virtual-audio start)"; .venv/bin/python scripts/bench_voices.py [--voices a,b,...]
           [--rounds N]
One round is one session per voice, 3-5 commands per moment: too few to tell 90 % from 60 %; --rounds 4
gives 12-20 a cell (about 17 minutes a round).
Voices: piper-joe (tuned on), espeak-gb-m3 and espeak-us-m7 (held out of tuning), flite-slt, flite-rms
(never heard by pocketsphinx's tuning; the command spotter learnt from flite's voices, pitch-shifted),
real (felixchen's "back" and "stop", the only real commands in ../shared/realspeech-dev; the other words
of that session are said by piper-joe and not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_session import Session, cpu_seconds, peak_rss_mb  # noqa: E402

from skill.audio import ASR_RATE, frame_db, read_wav, resample  # noqa: E402
from tests import real_set  # noqa: E402
from tests.asr_set import ESPEAK_VOICES, _espeak, spoken  # noqa: E402
from tests.vaudio import MicFeed, speaker_into_mic  # noqa: E402

SPEECH, CUE, SILENCE = "over speech", "over a cue", "in silence"
FLITE = {"flite-slt": "slt", "flite-rms": "rms"}
INTENT = {"what's next": "status", "keep going": "resume", "start": "start"}
"""The intent a phrase should bring, where it is not the phrase itself."""

Event = dict
Predicate = Callable[[Event], bool]


@dataclass
class Tally:
    first: int = 0
    within3: int = 0
    said: int = 0
    latencies: list[float] = field(default_factory=list)


def with_speech_end(samples: np.ndarray) -> tuple[np.ndarray, float]:
    levels = frame_db(samples)
    last = np.nonzero(levels > levels.max() - 40)[0][-1]
    return samples.astype(np.float32), (last + 1) * 0.02


def flite(text: str, voice: str) -> tuple[np.ndarray, float]:
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", f.name], check=True, capture_output=True)
        samples, rate = read_wav(f.name)
    return with_speech_end(resample(samples, rate, ASR_RATE))


def real_clips() -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for clip in real_set.load():
        if clip.source == "felixchen" and clip.intent in ("back", "stop"):
            found.setdefault(clip.intent, []).append(clip.path)
    return found


class Voice:
    def __init__(self, name: str):
        self.name = name
        self._real = real_clips() if name == "real" else {}
        self._used: dict[str, int] = {}

    def counts(self, text: str) -> bool:
        """Whether this voice says `text` itself (the real voice only has "back" and "stop")."""
        return self.name != "real" or text in self._real

    def say(self, text: str) -> tuple[np.ndarray, float]:
        if self.name == "piper-joe" or not self.counts(text):
            return spoken(text)
        if self.name in FLITE:
            return flite(text, FLITE[self.name])
        if self.name in ESPEAK_VOICES:
            v, pitch, speed = ESPEAK_VOICES[self.name]
            return with_speech_end(_espeak(text, v, pitch, speed))
        clips = self._real[text]
        i = self._used.get(text, 0)
        self._used[text] = i + 1
        samples, rate = read_wav(clips[i % len(clips)])
        return with_speech_end(resample(samples, rate, ASR_RATE))


def plan(voice: str) -> list[tuple[str, str]]:
    if voice == "real":
        return [("start", SILENCE), ("back", SPEECH), ("stop", SPEECH), ("keep going", SILENCE), ("back", CUE),
                ("stop", CUE), ("keep going", SILENCE), ("back", SPEECH), ("stop", SILENCE)]
    return [("start", SILENCE), ("what's next", SPEECH), ("slower", CUE), ("pause", SPEECH),
            ("resume", SILENCE), ("repeat", SPEECH), ("faster", CUE), ("next", SPEECH),
            ("stop", SPEECH), ("keep going", SILENCE), ("louder", CUE), ("stop", SILENCE)]


def moment_ready(moment: str) -> Predicate:
    if moment == SPEECH:
        return lambda e: e["event"] == "say" and len(e["text"]) > 12
    if moment == CUE:
        return lambda e: e["event"] == "cue"
    return lambda e: True


@dataclass
class VoiceRun:
    self_triggered: int
    cpu: float
    rss: float
    report: dict  # the session's audio report: underruns, echo removed, echo delay


def run_voice(name: str, feed: MicFeed, tallies: dict[tuple[str, str], Tally]) -> VoiceRun:
    voice = Voice(name)
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "profile.json"
        s = Session(Path(tmp) / "events.jsonl", profile)
        started, cpu0 = time.monotonic(), cpu_seconds(s.proc.pid)
        s.wait(lambda e: e["event"] == "state" and e["state"] == "waiting", timeout=120)
        time.sleep(1.5)
        expected: list[str] = []
        cpu, rss = 0.0, 0.0
        for text, moment in plan(name):
            intent = INTENT.get(text, text)
            if intent == "stop" and moment == SILENCE:  # the last: measure while the session still runs
                cpu = (cpu_seconds(s.proc.pid) - cpu0) / (time.monotonic() - started)
                rss = peak_rss_mb(s.proc.pid)
            tally = tallies.setdefault((name, moment), Tally())
            counted = voice.counts(text)
            for attempt in range(3):
                if moment != SILENCE and s.wait(moment_ready(moment), timeout=40) is None:
                    break
                if moment == SILENCE:
                    # after a "stop" the guide says "Stopping. To carry on, say keep going.": a person
                    # answers once it has said it (said over it, its own words are not taken)
                    time.sleep(3.5 if text == "keep going" and attempt == 0 else 1.0)
                audio, speech = voice.say(text)
                ended = feed.say(audio, speech)
                got = s.wait(lambda e, i=intent: e["event"] == "command" and e["intent"] == i, timeout=3.5)
                if got is not None:
                    expected.append(intent)
                    if counted:
                        tally.first += attempt == 0
                        tally.within3 += 1
                        tally.latencies.append(got[1] - ended)
                    break
            if counted:
                tally.said += 1
            if intent == "stop" and moment == SILENCE:
                break
        finished = s.wait(lambda e: e["event"] == "end", timeout=30)
        if finished is None:  # (once it has ended, it is writing its report: a SIGTERM then lost it)
            s.proc.terminate()
        s.proc.wait(timeout=30)
        heard = [e["intent"] for e in s.events() if e["event"] == "command" and e["intent"] != "none"]
        extra = list(heard)
        for intent in expected:
            if intent in extra:
                extra.remove(intent)
        if os.environ.get("BENCH_DEBUG"):
            print(name, "heard", heard, "expected", expected, file=sys.stderr)
        report = json.loads(profile.read_text()) if profile.exists() else {}
        return VoiceRun(len(extra), cpu, rss, report)


def spread(values: Sequence[float], unit: str) -> str:
    """One run's value, or the lowest and highest of several."""
    lo, hi = min(values), max(values)
    return f"{lo:.1f}{unit}" if len(values) == 1 or lo == hi else f"{lo:.1f}-{hi:.1f}{unit}"


def print_rows(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(f"{c:{w}}" for c, w in zip(r, widths, strict=True)).rstrip())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--voices", default="piper-joe,espeak-gb-m3,espeak-us-m7,flite-slt,flite-rms,real")
    ap.add_argument("--rounds", type=int, default=1, help="sessions per voice (default 1)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # (unwinds: the loopback goes with it)
    tallies: dict[tuple[str, str], Tally] = {}
    per_voice: dict[str, list[VoiceRun]] = {}
    with speaker_into_mic(), MicFeed() as feed:
        for _ in range(args.rounds):
            for name in args.voices.split(","):
                per_voice.setdefault(name, []).append(run_voice(name, feed, tallies))
    rows = [("voice", "moment", "first time", "within 3 tries", "latency p50 / p95 (target: >= 95 % first time "
             "in silence, >= 90 % over speech; p95 < 500 ms)")]
    for (name, moment), t in tallies.items():
        if not t.said:
            continue
        lat = np.array(t.latencies) * 1000
        latency = f"{np.percentile(lat, 50):.0f} / {np.percentile(lat, 95):.0f} ms" if len(lat) else "-"
        rows.append((name, moment, f"{t.first}/{t.said}", f"{t.within3}/{t.said}", latency))
    print_rows(rows)
    print()
    print_rows([("voice", "commands nobody said (target 0)", "session CPU, one core (< 15 %)", "peak RSS",
                 "echo removed", "speaker underruns")] +
               [(n, str(sum(r.self_triggered for r in runs)), spread([100 * r.cpu for r in runs], "%"),
                 spread([r.rss for r in runs], " MB"),
                 spread([r.report.get("echo_removed_db", float("nan")) for r in runs], " dB"),
                 ", ".join(str(r.report.get("underruns", "?")) for r in runs))
                for n, runs in per_voice.items()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
