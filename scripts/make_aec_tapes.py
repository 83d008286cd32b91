#!/usr/bin/env python3
"""Session tapes for comparing echo cancellers (scripts/bench_echo.py): a live session of the short test
routine on the virtual devices, with the speaker routed into the microphone, and a person's commands said
over the guide at known moments. One tape per echo path:

  fixed     PulseAudio's loopback with its rate adjustment off (as the tests use): the delay stays put
  adjusting PulseAudio's default loopback (adjust_time=10 s): it re-rates its resampler, and the echo
            delay slides by several ms over a session
  offset-live  a loopback in a child process that plays the speaker into the mic 0.1 % fast (a speaker's
            and a microphone's clocks that disagree): the echo delay grows about 1 ms a second, and moves
            in jumps when the loopback stalls under the session's load
  offset    the fixed tape as a mic clock 0.1 % fast would have recorded it (`derive_offset`): the same
            drift, and nothing else moving

The commands: "pause" (the Piper voice) said the moment the guide says "Let's begin." (it runs on into the
first chime: the hard case, while the canceller is still learning the room), "resume" in the quiet of the
pause, "pause" again over a sentence 20 s and more in, then "stop" said by a real person (felixchen's
recordings in ../shared/realspeech-dev) over a later sentence. Each is said again, as a person would, up to
three times when the session does not act on it. What was said when goes beside the tape (FILE.json).

Each live tape also gets a copy, KIND-mixed.npz, with many more commands mixed in over the guide
(`mix_commands`; `--mix` makes only those, from the live tapes there).

Usage: eval "$(scripts/virtual-audio start)"; .venv/bin/python scripts/make_aec_tapes.py [--only fixed,...]
Tapes go to ~/.cache/bedtime-stretch/aec-tapes (not in git).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from skill.audio import ASR_RATE, frame_db, read_wav, resample  # noqa: E402
from skill.paths import cache_dir  # noqa: E402
from skill.session.loop import read_event_log  # noqa: E402
from tests.asr_set import spoken  # noqa: E402
from tests.vaudio import MicFeed, available, speaker_into_mic  # noqa: E402

SHORT = ROOT / "tests" / "data" / "short-routine.toml"
REALSPEECH = ROOT.parent / "shared" / "realspeech-dev"
KINDS = ("fixed", "adjusting", "offset-live", "offset")
LIVE = ("fixed", "adjusting", "offset-live")
OFFSET = 0.001
"""The speaker-to-mic rate offset of the "offset" tapes."""


def tape_dir() -> Path:
    path = cache_dir() / "aec-tapes"
    path.mkdir(parents=True, exist_ok=True)
    return path


def speech_onset(samples: np.ndarray) -> float:
    """Seconds into a clip where its speech starts: the first 20 ms frame within 40 dB of the loudest."""
    levels = frame_db(samples)
    return float(np.nonzero(levels > levels.max() - 40)[0][0] * 0.02)


def loud_rms(samples: np.ndarray) -> float:
    """The level of a clip's speech: the RMS of its 20 ms frames within 20 dB of the loudest."""
    levels = frame_db(samples)
    frames = samples[: len(levels) * 320].reshape(len(levels), 320)
    return float(np.sqrt(np.mean(frames[levels > levels.max() - 20] ** 2)))


def felix_stops() -> list[tuple[str, np.ndarray, float]]:
    """felixchen's real "stop"s (name, 16 kHz samples, where the speech ends), at the Piper clip's level."""
    lines = (REALSPEECH / "manifest.tsv").read_text().splitlines()[1:]
    names = [f.split("\t")[0] for f in lines if f.split("\t")[1] == "stop" and "felixchen" in f.split("\t")[2]]
    piper, _ = spoken("stop")
    target = loud_rms(piper)
    out = []
    for name in names[:6]:
        samples, rate = read_wav(REALSPEECH / name)
        samples = resample(samples, rate, ASR_RATE)
        samples = np.clip(samples * target / (loud_rms(samples) + 1e-9), -1, 1).astype(np.float32)
        levels = frame_db(samples)
        last = np.nonzero(levels > levels.max() - 40)[0][-1]
        out.append((name, samples, float((last + 1) * 0.02)))
    return out


@contextlib.contextmanager
def offset_loopback(offset: float = OFFSET) -> Iterator[None]:
    """Plays the speaker's monitor into the mic `offset` fast, from a child process (`run_offset_loopback`)."""
    child = subprocess.Popen([sys.executable, __file__, "--offset-loopback", str(offset)])
    try:
        time.sleep(0.5)
        yield
    finally:
        child.terminate()
        child.wait(timeout=5)


class _SampleSpec(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("rate", ctypes.c_uint32), ("channels", ctypes.c_uint8)]


class _BufferAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in ("maxlength", "tlength", "prebuf", "minreq", "fragsize")]


def run_offset_loopback(offset: float, slack: float = 0.4) -> None:
    """Reads the speaker's monitor 10 ms at a time and writes each second of it as 1 + offset seconds into
    the mic (soxr), through libpulse-simple: the extra samples pile up in the player's buffer, so the echo
    falls behind by `offset` s a second (a speaker's and a microphone's clocks that disagree), for
    `slack` / `offset` seconds. Blocking reads and writes in a process of its own: a loopback in Python
    callbacks beside the session underran and queued half a second of sound, and parec | sox | pacat queued
    1.3-2 s in its pipes."""
    import soxr

    pulse = ctypes.CDLL("libpulse-simple.so.0")
    pulse.pa_simple_new.restype = ctypes.c_void_p
    pulse.pa_simple_new.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                    ctypes.c_char_p, ctypes.POINTER(_SampleSpec), ctypes.c_void_p,
                                    ctypes.POINTER(_BufferAttr), ctypes.POINTER(ctypes.c_int)]
    pulse.pa_simple_read.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)]
    pulse.pa_simple_write.argtypes = pulse.pa_simple_read.argtypes
    spec = _SampleSpec(5, ASR_RATE, 1)  # PA_SAMPLE_FLOAT32LE
    ms = ASR_RATE * 4 // 1000  # bytes a millisecond
    err = ctypes.c_int(0)
    record = pulse.pa_simple_new(None, b"offset-loopback", 2, b"speaker.monitor", b"heard", ctypes.byref(spec), None,
                                 ctypes.byref(_BufferAttr(200 * ms, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 10 * ms)),
                                 ctypes.byref(err))
    play = pulse.pa_simple_new(None, b"offset-loopback", 1, b"mic_feed", b"played", ctypes.byref(spec), None,
                               ctypes.byref(_BufferAttr(int((0.05 + slack) * 1000) * ms,
                                                        int((0.05 + slack) * 1000) * ms, 30 * ms, 10 * ms, 0)),
                               ctypes.byref(err))
    if not record or not play:
        raise SystemExit(f"libpulse-simple: cannot open the streams (error {err.value})")
    resampler = soxr.ResampleStream(ASR_RATE, ASR_RATE * (1 + offset), 1, dtype="float32")
    block = np.zeros(ASR_RATE // 100, np.float32)
    while True:
        if pulse.pa_simple_read(record, block.ctypes.data, block.nbytes, ctypes.byref(err)) < 0:
            raise SystemExit(f"libpulse-simple: read failed (error {err.value})")
        out = np.ascontiguousarray(resampler.resample_chunk(block), np.float32)
        if len(out) and pulse.pa_simple_write(play, out.ctypes.data, out.nbytes, ctypes.byref(err)) < 0:
            raise SystemExit(f"libpulse-simple: write failed (error {err.value})")


def derive_offset(fixed: Path, out: Path, offset: float = OFFSET) -> dict:
    """The "fixed" tape as a microphone whose clock runs `offset` fast would have recorded it: its track
    resampled to 1 + offset times as many samples, delivered in chunks of the same sizes at the times
    those samples took at the fast rate. Everything the mic heard stretches (the person too, by 0.1 %),
    and the echo falls behind the reference by `offset` s a second, with nothing else in the path moving:
    the live loopback ("offset-live") stalls under the session's load and moves the echo in jumps too."""
    import soxr

    with np.load(fixed) as npz:
        arrays = {key: npz[key] for key in npz.files}
    mic = soxr.resample(arrays["mic"].astype(np.float32), ASR_RATE, ASR_RATE * (1 + offset)).astype(np.float32)
    sizes = arrays["mic_len"]
    chunk = int(np.median(sizes))
    lengths = np.full(len(mic) // chunk, chunk, np.int64)
    arrays["mic"] = mic[: int(lengths.sum())]
    arrays["mic_len"] = lengths
    delivered = np.cumsum(lengths) / (ASR_RATE * (1 + offset))  # when each chunk's last sample came in
    arrays["mic_at"] = arrays["mic_at"][0] + delivered - lengths / ASR_RATE
    np.savez_compressed(out, **arrays)
    meta = json.loads(fixed.with_suffix(".json").read_text())
    meta.update(kind="offset", offset=offset, derived_from=fixed.name)
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return meta


def echo_path(kind: str) -> contextlib.AbstractContextManager[object]:
    if kind == "fixed":
        return speaker_into_mic()
    if kind == "adjusting":
        return speaker_into_mic(rate_adjusted=True)
    return offset_loopback()


class Session:
    def __init__(self, tape: Path, log: Path):
        self.events_path = tape.with_suffix(".events.jsonl")
        self.events_path.unlink(missing_ok=True)
        env = dict(os.environ, BEDTIME_STRETCH_TAPE=str(tape), PYTHONPATH=str(ROOT), BEDTIME_STRETCH_AEC="home")
        self.proc = subprocess.Popen([sys.executable, "-m", "skill", "-v", "run", str(SHORT), "--engine",
                                      "pocketsphinx", "--events", str(self.events_path)], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(log, "w"))  # noqa: SIM115

    def events(self) -> list[dict]:
        return read_event_log(self.events_path)

    def wait(self, predicate: Callable[[dict], bool], timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            for e in self.events():
                if predicate(e):
                    return e
            time.sleep(0.01)
        return None


def make_tape(kind: str, path: Path) -> dict:
    said: list[dict] = []
    stops = felix_stops()
    with echo_path(kind), MicFeed() as feed:
        s = Session(path, path.with_suffix(".log"))
        try:
            s.wait(lambda e: e["event"] == "state" and e["state"] == "waiting", 60)
            time.sleep(2.0)

            def say(word: str, audio: np.ndarray, speech_end: float, source: str, over: str) -> None:
                ended = feed.say(audio, speech_end)
                start = ended - speech_end + speech_onset(audio)
                said.append({"word": word, "source": source, "start": start, "end": ended, "over": over})

            def repeat(word: str, clips: list[tuple[str, np.ndarray, float]], done: Callable[[dict], bool],
                       over_guide: Callable[[float], dict | None] | None) -> dict | None:
                for attempt in range(3):
                    over = ""
                    if over_guide is not None:
                        sentence = over_guide(time.monotonic())
                        if sentence is None:
                            return None
                        over = sentence["text"]
                    name, audio, end = clips[attempt % len(clips)]
                    say(word, audio, end, name, over)
                    heard = s.wait(done, 3.0)
                    if heard is not None:
                        return heard
                return None

            piper = {w: [("piper-joe", *spoken(w))] for w in ("start", "pause", "resume")}
            seen = [0.0]

            def next_sentence(first: str | None = None, min_len: int = 13) -> Callable[[float], dict | None]:
                def wait(_: float) -> dict | None:
                    e = s.wait(lambda e: e["event"] == "say" and e["t"] > seen[0] and
                               (e["text"] == first if first else len(e["text"]) >= min_len), 40)
                    if e is not None:
                        seen[0] = e["t"]
                    return e
                return wait

            # "start" in the quiet after the intro, then "pause" the moment the guide says "Let's begin."
            for _ in range(3):
                say("start", *piper["start"][0][1:], "piper-joe", "")
                began = s.wait(lambda e: e["event"] == "say" and e["text"] == "Let's begin.", 4.0)
                if began is not None:
                    break
            assert began is not None, "the session never began"
            seen[0] = began["t"] - 1e-6
            paused = lambda e: e["event"] == "state" and e["state"] == "paused"  # noqa: E731
            resumed_after = lambda t: lambda e: e["event"] == "command" and e["intent"] == "resume" and e["t"] > t  # noqa: E731
            began_at = time.monotonic()
            tries = [0]

            def over_begin_then_next(t: float) -> dict | None:
                tries[0] += 1
                return began if tries[0] == 1 else next_sentence()(t)

            repeat("pause", piper["pause"], paused, over_begin_then_next)
            state_t = max(e["t"] for e in s.events())
            time.sleep(2.0)
            repeat("resume", piper["resume"], resumed_after(state_t), None)
            # 20 s and more into the routine: the converged case
            time.sleep(max(0.0, 22.0 - (time.monotonic() - began_at)))
            seen[0] = max(e["t"] for e in s.events())
            if repeat("pause", piper["pause"], lambda e: paused(e) and e["t"] > seen[0], next_sentence()):
                state_t = max(e["t"] for e in s.events())
                time.sleep(2.0)
                repeat("resume", piper["resume"], resumed_after(state_t), None)
            time.sleep(6.0)
            seen[0] = max(e["t"] for e in s.events())
            repeat("stop", stops, lambda e: e["event"] == "state" and e["state"] == "stopping", next_sentence())
            if s.wait(lambda e: e["event"] == "end", 20) is None:
                s.proc.terminate()  # SIGTERM ends it cleanly, and it saves its tape on the way out
            s.proc.wait(timeout=60)
        finally:
            if s.proc.poll() is None:
                s.proc.kill()
    meta = {"kind": kind, "offset": OFFSET if kind == "offset-live" else 0.0, "said": said,
            "events": s.events()}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return meta


MIX_CLIPS = ("pause", "stop", "felix")
MIX_SPACING = 4.0
"""Seconds between the commands mixed in, and at least this far from the commands said live."""


def mix_commands(live: Path) -> Path:
    """A copy of a live tape (`live`) with many more commands said over the guide, mixed into its
    microphone track: at each sentence the guide starts (the reference sounds after a quiet), 4 s and more
    from any other command, in turn the Piper voice's "pause" and "stop" and felixchen's real "stop"s. The
    virtual microphone adds what it is played in the same way, so this is the live case many times over,
    with nothing of the session reacting (the bench counts what the listener would post)."""
    from skill.hearing.tape import load

    tracks, _ = load(live)
    meta = json.loads(live.with_suffix(".json").read_text())
    with np.load(live) as npz:
        arrays = {key: npz[key] for key in npz.files}
    mic = arrays["mic"].astype(np.float32).copy()
    mic_t = np.concatenate([at + np.arange(len(x)) / ASR_RATE for at, x in tracks["mic"]])
    ref = np.concatenate([x for _, x in tracks["ref"]])
    ref_t = np.concatenate([at + np.arange(len(x)) / ASR_RATE for at, x in tracks["ref"]])
    frames = len(ref) // 160
    loud = np.abs(ref[: frames * 160]).reshape(frames, 160).max(axis=1) > 1e-3
    quiet_before = np.convolve(~loud, np.ones(30), "full")[:frames] >= 30  # 0.3 s of quiet before
    onsets = [float(ref_t[i * 160]) for i in range(1, frames) if loud[i] and quiet_before[i - 1]]
    clips = {"pause": [("piper-joe", "pause", *spoken("pause"))], "stop": [("piper-joe", "stop", *spoken("stop"))],
             "felix": [(name, "stop", audio, end) for name, audio, end in felix_stops()]}
    busy = [(d["start"], d["end"]) for d in meta["said"]]
    said = []
    turn = 0
    for onset in onsets:
        if onset + 3 > mic_t[-1] or any(a - MIX_SPACING < onset < b + MIX_SPACING for a, b in busy):
            continue
        kind = MIX_CLIPS[turn % len(MIX_CLIPS)]
        source, word, audio, speech_end = clips[kind][(turn // len(MIX_CLIPS)) % len(clips[kind])]
        turn += 1
        at = int(np.searchsorted(mic_t, onset))
        n = min(len(audio), len(mic) - at)
        mic[at:at + n] += audio[:n]
        start = onset + speech_onset(audio)
        said.append({"word": word, "source": source, "start": start, "end": onset + speech_end, "over": "(mixed)"})
        busy.append((start, onset + speech_end))
    arrays["mic"] = np.clip(mic, -1, 1)
    out = live.with_name(live.stem + "-mixed.npz")
    np.savez_compressed(out, **arrays)
    mixed = dict(meta, said=sorted(meta["said"] + said, key=lambda d: d["start"]), mixed_from=live.name)
    out.with_suffix(".json").write_text(json.dumps(mixed, indent=1))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(KINDS), help="comma-separated: " + ", ".join(KINDS))
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--mix", action="store_true", help="only mix more commands into the tapes made (no devices)")
    ap.add_argument("--offset-loopback", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.offset_loopback is not None:
        run_offset_loopback(args.offset_loopback)
        return 0
    out = args.dir or tape_dir()
    if args.mix:
        for kind in args.only.split(","):
            mixed = mix_commands(out / f"{kind}.npz")
            meta = json.loads(mixed.with_suffix(".json").read_text())
            print(f"{mixed}: {len(meta['said'])} commands, {sum(bool(d['over']) for d in meta['said'])} over the guide")
        return 0
    if any(kind in LIVE for kind in args.only.split(",")) and not available():
        print('needs the virtual audio devices: eval "$(scripts/virtual-audio start)"', file=sys.stderr)
        return 2
    for kind in args.only.split(","):
        path = out / f"{kind}.npz"
        if kind == "offset":
            derive_offset(out / "fixed.npz", path)
            print(f"{path}: from fixed.npz, the mic {100 * OFFSET:g} % fast")
        else:
            meta = make_tape(kind, path)
            heard = [e["intent"] for e in meta["events"] if e["event"] == "command"]
            print(f"{path}: said {[d['word'] for d in meta['said']]}, the session heard {heard}")
        mix_commands(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
