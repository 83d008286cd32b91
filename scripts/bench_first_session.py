#!/usr/bin/env python3
"""The first session after install, on an empty phrase cache: how soon it speaks, how its memory stays,
and whether it still hears commands while its phrases are being made.

A real `bedtime-stretch run` on the virtual devices with fresh XDG folders (no cache, no history), the
Piper voice's "start", "pause" and "resume" played into the virtual microphone. Prints: seconds to the
first word and to the end of the intro, seconds until every phrase is stored, peak memory of the session's
own process and of each child (the phrase preparation, the recognizer), the session's CPU, commands heard
first try, and speaker underruns.

Usage: eval "$(scripts/virtual-audio start)"; .venv/bin/python scripts/bench_first_session.py
           [--repo PATH]   (another checkout to measure, e.g. main before a change)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_session import Session, cpu_seconds, process_tree  # noqa: E402
from benchtable import print_table  # noqa: E402

from skill.routine.definition import load_routine  # noqa: E402
from skill.routine.script import spoken_texts  # noqa: E402
from tests.asr_set import spoken  # noqa: E402
from tests.vaudio import MicFeed  # noqa: E402


class Watch:
    """Peak resident memory per process of the session's tree (children that exit keep the last peak they
    showed), and when the cache first held every phrase; sampled until stopped."""

    def __init__(self, pid: int, cache: Path, total: int):
        self.pid = pid
        self.peaks: dict[str, float] = {}
        self._cache, self._total = cache, total
        self.all_stored_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _label(self, pid: int) -> str:
        if pid == self.pid:
            return "session"
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        return "phrase preparation" if b"prepare" in args else "recognizer"

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            if self.all_stored_at is None and stored_phrases(self._cache) >= self._total:
                self.all_stored_at = time.monotonic()
            try:
                pids = process_tree(self.pid)
            except OSError:
                continue
            for pid in pids:
                try:
                    label = self._label(pid)
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM"):
                        self.peaks[label] = max(self.peaks.get(label, 0.0), int(line.split()[1]) / 1024)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def stored_phrases(cache: Path) -> int:
    return sum(1 for _ in cache.rglob("*.wav"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, default=ROOT, help="the checkout whose session to run")
    ap.add_argument("--rounds", type=int, default=2, help="pause/resume rounds while phrases are made")
    args = ap.parse_args()
    total = len(spoken_texts(load_routine()))
    with tempfile.TemporaryDirectory() as tmp, MicFeed() as feed:
        home = Path(tmp)
        for name in ("CACHE", "DATA", "STATE", "CONFIG"):
            os.environ[f"XDG_{name}_HOME"] = str(home / name.lower())
        os.environ["PYTHONPATH"] = str(args.repo)
        started = time.monotonic()
        s = Session(home / "events.jsonl", home / "profile.json", cwd=args.repo)
        cache = home / "cache"
        watch = Watch(s.proc.pid, cache, total)
        first_word = s.wait(lambda e: e["event"] == "say", timeout=900)
        intro_done = s.wait(lambda e: e["event"] == "state" and e["state"] == "waiting", timeout=120)
        heard = said = 0
        latencies: list[float] = []
        cpu0, steady0 = cpu_seconds(s.proc.pid), time.monotonic()
        for word, intent in [("start", "stretch")] + [(w, w) for _ in range(args.rounds) for w in ("pause", "resume")]:
            time.sleep(2.5)
            audio, speech = spoken(word)
            said += 1
            ended = feed.say(audio, speech)
            got = s.wait(lambda e, i=intent: e["event"] == i or (e["event"] == "command" and e["intent"] == i),
                         timeout=4.0)
            if got is not None:
                heard += 1
                latencies.append(got[1] - ended)
        while watch.all_stored_at is None and time.monotonic() - started < 900 and s.proc.poll() is None:
            time.sleep(0.5)
        cpu = (cpu_seconds(s.proc.pid) - cpu0) / (time.monotonic() - steady0)
        audio, speech = spoken("stop")
        feed.say(audio, speech)
        if s.wait(lambda e: e["event"] == "end", timeout=20) is None:
            s.proc.terminate()
        s.proc.wait(timeout=30)
        watch.stop()
        profile = json.loads((home / "profile.json").read_text()) if (home / "profile.json").exists() else {}
        stored = stored_phrases(cache)

    def seconds(got: tuple[dict, float] | None) -> str:
        return f"{got[1] - started:.1f} s" if got else "never"

    rows = [
        ("phrases to prepare", str(total), ""),
        ("first word, from launch", seconds(first_word), ""),
        ("intro spoken, from launch", seconds(intro_done), ""),
        ("every phrase stored, from launch",
         f"{watch.all_stored_at - started:.1f} s" if watch.all_stored_at else f"not in time ({stored}/{total})", ""),
        ("peak RSS, the session's own process", f"{watch.peaks.get('session', 0):.0f} MB", "< 250 MB"),
        ("peak RSS, the phrase preparation (child)", f"{watch.peaks.get('phrase preparation', 0):.0f} MB", ""),
        ("peak RSS, the recognizer (child)", f"{watch.peaks.get('recognizer', 0):.0f} MB", ""),
        ("CPU, session and children, after the intro", f"{100 * cpu:.0f}% of one core", ""),
        ("commands heard first try, while phrases were made", f"{heard}/{said}", ""),
        ("response latency, max", f"{1000 * max(latencies):.0f} ms" if latencies else "-", ""),
        ("speaker underruns", str(profile.get("underruns", "?")), "0"),
    ]
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
