#!/usr/bin/env python3
"""Speaking benchmark: synthesis real-time factor, time to first audio (cached, uncached), prepare time for
the whole routine, cue lateness on the real output stream, peak RSS of a speaking session.

Usage: eval "$(scripts/virtual-audio start)"; .venv/bin/python scripts/bench_tts.py
The speaking-session part runs in a child process so its peak RSS is its own (no Piper voice loaded:
every phrase comes from the cache).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchtable import print_table

from skill.routine.definition import load_routine
from skill.routine.script import spoken_texts
from skill.speaking.voice import PhraseCache, Voice

SESSION = r"""
import sys, threading, time
import numpy as np
sys.path.insert(0, {root!r})
from pathlib import Path
from skill.session.effects import Say
from skill.speaking.speaker import LiveSpeaker
from skill.speaking.voice import PhraseCache, Voice
cache = PhraseCache(Voice(), Path({folder!r}))
lateness = []
pending = {{}}
def played(chunk):
    samples = chunk.samples()
    if pending and np.any(samples):
        seq, due = min(pending.items())
        lateness.append(abs(chunk.captured_at + np.nonzero(samples)[0][0] / chunk.rate - due))
        pending.pop(seq)
done = threading.Event()
speaker = LiveSpeaker(lambda seq: done.set(), cache, on_played=played)
texts = ["One", "Two", "Three", "Four", "Five", "Breathe in.", "And out."] * 6
for i, text in enumerate(texts, 1):
    # as the live engine does: wake the output latency early, so the cue is heard on time
    due = time.monotonic() + 0.3
    time.sleep(max(0.0, due - speaker.output_latency - time.monotonic()))
    pending[i] = due
    speaker.say(Say(i, text))
    time.sleep(1.0)
speaker.close(fade=False)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec from the (voice-loaded) parent
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
p50, p95 = np.percentile(lateness, 50) * 1000, np.percentile(lateness, 95) * 1000
print(f"{{p50:.1f}} {{p95:.1f}} {{rss:.0f}} {{int(cache.voice.loaded)}}")
"""


def main() -> int:
    routine = load_routine()
    texts = spoken_texts(routine)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        voice = Voice()
        started = time.perf_counter()
        voice.synthesize("Warm up.", 1.1)
        load = time.perf_counter() - started

        rtf = []
        for text in texts[:25]:
            started = time.perf_counter()
            raw, rate = voice.synthesize(text, 1.1)
            rtf.append((time.perf_counter() - started) / (len(raw) / rate))

        cache = PhraseCache(voice, folder)
        first_uncached = []
        for text in ["Stretch 4 of 8: Knees-together sway.", "Slowing down.", "Let's go again.", "Ten more seconds.",
                     "Now the left side.", "And release."]:
            started = time.perf_counter()
            cache.get(text + " ")  # a new text: synthesized, shaped and stored
            first_uncached.append(time.perf_counter() - started)

        started = time.perf_counter()
        cache.prepare(texts)
        prepare = time.perf_counter() - started

        first_cached = []
        cold = PhraseCache(Voice(), folder)  # a fresh process's view: from disk
        for text in texts[:50]:
            started = time.perf_counter()
            cold.get(text)
            first_cached.append(time.perf_counter() - started)

        session = subprocess.run([sys.executable, "-c", SESSION.format(root=str(Path(__file__).parent.parent),
                                                                         folder=str(folder))],
                                 capture_output=True, text=True)
        if session.returncode != 0 or not session.stdout.strip():
            cue = f"(no audio device: {session.stderr.strip().splitlines()[-1] if session.stderr else '?'})"
            rss_session = loaded = "-"
        else:
            p50, p95, rss_session, loaded = session.stdout.split()
            cue = f"p50 {p50} ms, p95 {p95} ms"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("voice load + first synthesis", f"{load:.2f} s", ""),
        ("synthesis real-time factor", f"{np.mean(rtf):.3f} (max {np.max(rtf):.3f})", ""),
        ("first audio, uncached phrase", f"p50 {np.median(first_uncached) * 1000:.0f} ms, "
                                         f"max {np.max(first_uncached) * 1000:.0f} ms", "< 300 ms"),
        ("first audio, cached phrase", f"p50 {np.median(first_cached) * 1000:.1f} ms, "
                                       f"p95 {np.percentile(first_cached, 95) * 1000:.1f} ms", ""),
        (f"prepare whole routine ({len(texts)} phrases)", f"{prepare:.1f} s", "< 60 s"),
        ("cached cue start vs schedule (real stream)", cue, "p95 < 20 ms"),
        ("peak RSS, speaking session (cache only)", f"{rss_session} MB (voice loaded: {loaded})", "< 250 MB"),
        ("peak RSS, this benchmark (voice loaded)", f"{rss:.0f} MB", ""),
    ]
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
