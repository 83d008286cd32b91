"""Whole sessions through real sounddevice streams on the virtual devices: the person's commands are
played into the virtual microphone at known moments, and the session's events are checked."""

from __future__ import annotations

import random
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from skill.routine.script import estimate_speech_seconds
from skill.session.loop import read_event_log
from tests.asr_set import build, set_dir, spoken
from tests.vaudio import MicFeed, needs_virtual_audio, play_into_mic, speaker_into_mic

pytestmark = needs_virtual_audio

SHORT = Path(__file__).resolve().parent / "data" / "short-routine.toml"


def clip(text: str) -> Path:
    c = next(c for c in build() if c.voice == "piper-joe" and c.text == text and c.noise == "clean")
    return set_dir() / c.path


class Session:
    def __init__(self, tmp_path: Path, *extra: str):
        self.events_path = tmp_path / "events.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "skill", "-v", "run", str(SHORT), "--engine", "spotter",
             "--events", str(self.events_path), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def events(self) -> list[dict]:
        return read_event_log(self.events_path)

    def wait_for(self, predicate, timeout: float = 30.0) -> dict:  # type: ignore[no-untyped-def]
        found = self.poll_for(predicate, timeout)
        if found is None:
            raise AssertionError(f"never happened; events: {self.events()[-8:]}; stderr: {self._stderr()}")
        return found

    def poll_for(self, predicate, timeout: float) -> dict | None:  # type: ignore[no-untyped-def]
        """The first event that satisfies `predicate` within `timeout` s; None (the session goes on) if none."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events():
                if predicate(e):
                    return e
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return None

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        _, err = self.proc.communicate()
        lines = [line for line in err.splitlines() if "underrun" not in line]
        return "\n".join(lines[-25:])

    def say(self, text: str) -> None:
        play_into_mic(clip(text)).wait(timeout=10)

    def say_until(self, text: str, predicate, tries: int = 3) -> dict:  # type: ignore[no-untyped-def]
        """Say it again if it was not heard, as a person would (the benchmark counts first tries)."""
        for _ in range(tries - 1):
            self.say(text)
            found = self.poll_for(predicate, timeout=4.0)
            if found is not None:
                return found
        self.say(text)
        return self.wait_for(predicate, timeout=30.0)

    def finish(self, timeout: float = 30) -> tuple[str, str]:
        return self.proc.communicate(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def commands(events: list[dict]) -> list[str]:
    return [e["intent"] for e in events if e["event"] == "command"]


def run_scenario(tmp_path: Path) -> tuple[Session, list[dict]]:
    s = Session(tmp_path)
    try:
        s.wait_for(lambda e: e["event"] == "state" and e["state"] == "waiting", timeout=60)
        s.say("start")
        s.wait_for(lambda e: e["event"] == "stretch")  # on "start", or by itself 20 s later
        s.wait_for(lambda e: e["event"] == "cue" and e.get("n") == 2)
        paused = s.say_until("pause", lambda e: e["event"] == "state" and e["state"] == "paused")
        time.sleep(3.0)
        s.say_until("resume", lambda e: e["event"] == "command" and e["intent"] == "resume")
        s.wait_for(lambda e: e["event"] == "stretch" and e["side"] == "left")
        s.say_until("stop", lambda e: e["event"] == "state" and e["state"] == "stopping")
        s.wait_for(lambda e: e["event"] == "end")  # once its seconds to take the "stop" back are over
        _out, err = s.finish()
        assert s.proc.returncode == 0, err
        events = s.events()
        resumed = next(e for e in events if e["event"] == "command" and e["intent"] == "resume")
        quiet = [e for e in events if paused["t"] < e["t"] < resumed["t"] and e["event"] in ("say", "cue", "chime")]
        assert quiet == []
        return s, events
    finally:
        s.kill()


def test_a_hands_free_session_obeys_spoken_commands(tmp_path: Path) -> None:
    _, events = run_scenario(tmp_path)
    # each heard once: a command a person had to repeat is in the list once too, so this checks that nothing
    # else was taken (first tries are what scripts/bench_session.py counts)
    assert commands(events) == ["start", "pause", "resume", "stop"]
    assert events[-1]["event"] == "end" and events[-1]["completed"] is False


def test_with_its_own_voice_in_the_microphone_it_never_obeys_itself(tmp_path: Path) -> None:
    """The speaker's output goes back into the microphone for the whole short routine (intro, counts,
    breaths, the "go again?" question, a timed hold, the outro): not one command may come of it."""
    with speaker_into_mic(volume=1.0):
        s = Session(tmp_path)
        try:
            end = s.wait_for(lambda e: e["event"] == "end", timeout=240)
            s.finish()
        finally:
            s.kill()
    events = s.events()
    assert end["completed"] is True
    said = [e for e in events if e["event"] == "say"]
    assert len(said) > 30
    assert commands(events) == [], [e for e in events if e["event"] == "command"]


def said_after(t: float) -> Callable[[dict], bool]:
    return lambda e: e["event"] == "say" and e["t"] > t and len(e["text"]) > 12


def barge_in(tmp_path: Path, plan: list[tuple[str, bool, Callable[[float], Callable[[dict], bool]]]]
             ) -> tuple[Session, dict[str, int]]:
    """A session with the speaker in the microphone: "start", then each (words, over the guide, what shows
    it was heard after a moment) of `plan` in turn; words over the guide are said at a moment inside one
    of its sentences, from its first syllable to a second in (seeded: the same moments every run). A
    person repeats what was not heard (up to three times). Returns the session, for the caller to check
    that nothing else came of the guide's own voice, and the try on which each was heard."""
    moments = random.Random(len(plan))
    with speaker_into_mic(volume=1.0), MicFeed() as feed:
        s = Session(tmp_path)
        try:
            s.wait_for(lambda e: e["event"] == "state" and e["state"] == "waiting", timeout=60)
            time.sleep(2.0)
            for _ in range(3):
                feed.say(*spoken("start"))
                if s.poll_for(lambda e: e["event"] == "stretch", timeout=4.0):
                    break
            last = s.wait_for(lambda e: e["event"] == "stretch", timeout=20)["t"]
            tries = {}
            for words, over_guide, shows in plan:
                for attempt in range(1, 4):
                    if over_guide:
                        sentence = s.wait_for(said_after(last), timeout=30)
                        last = sentence["t"]
                        time.sleep(moments.uniform(0.0, min(1.0, estimate_speech_seconds(sentence["text"]) - 0.6)))
                    feed.say(*spoken(words))
                    heard = s.poll_for(shows(last), timeout=3.0)
                    if heard is not None:
                        last = heard["t"]
                        tries[words] = attempt
                        break
                assert words in tries, f"{words!r} not heard in 3 tries; events: {s.events()[-8:]}; {s._stderr()}"
            if plan[-1][0] != "stop":
                s.proc.terminate()  # ends it as systemd would
            s.finish()
        finally:
            s.kill()
    return s, tries


def stopping(after: float) -> Callable[[dict], bool]:
    return lambda e: e["event"] == "state" and e["state"] == "stopping"


def command(intent: str) -> Callable[[float], Callable[[dict], bool]]:
    return lambda after: lambda e: e["event"] == "command" and e["intent"] == intent and e["t"] > after


def test_stop_and_pause_are_heard_over_its_own_voice(tmp_path: Path) -> None:
    """Barge-in: "pause" said as the guide starts a sentence, "resume" in the quiet of the pause, "stop" said
    as the guide starts another; nothing else may come of the guide's own voice."""
    s, tries = barge_in(tmp_path, [("pause", True, lambda t: lambda e: e["event"] == "state" and e["state"] == "paused"),
                            ("resume", False, command("resume")),
                            ("stop", True, stopping)])
    assert commands(s.events()) == ["start", "pause", "resume", "stop"], tries


def test_every_command_is_heard_over_its_own_voice(tmp_path: Path) -> None:
    """A person who knows the routine says "next" in the middle of an instruction, "slower" as a sentence
    starts, "what's next" and "repeat" over the guide: each acts (the guide's own "next", "repeat" and
    "slowly" in its prompts never do)."""
    s, tries = barge_in(tmp_path, [("next", True, lambda t: lambda e: e["event"] == "stretch" and e["t"] > t),
                            ("slower", True, lambda t: lambda e: e["event"] == "tempo" and e["t"] > t),
                            ("what's next", True, command("status")),
                            ("repeat", True, command("repeat"))])
    assert commands(s.events()) == ["start", "next", "slower", "status", "repeat"], tries


def test_serve_idles_until_the_wake_phrase_then_guides(tmp_path: Path) -> None:
    from skill.audio import write_wav
    from skill.speaking.voice import Voice

    wake = tmp_path / "wake.wav"
    samples, rate = Voice().synthesize("Bedtime stretches.", 1.0)
    write_wav(wake, samples, rate)
    proc = subprocess.Popen([sys.executable, "-m", "skill", "serve", str(SHORT), "--engine", "pocketsphinx"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "idle" in line and "bedtime stretches" in line
        time.sleep(2.5)  # a new input stream takes a moment before it delivers audio
        heard = ""
        for _ in range(3):
            play_into_mic(wake).wait(timeout=10)
            deadline = time.monotonic() + 4.0
            while time.monotonic() < deadline and "heard" not in heard and proc.poll() is None:
                ready, _, _ = select.select([proc.stdout], [], [], 0.5)
                if ready:
                    heard = proc.stdout.readline()
            if "heard" in heard or proc.poll() is not None:
                break
        assert "heard 'bedtime stretches'" in heard, heard
        time.sleep(3.0)  # the session has begun talking
        proc.terminate()  # systemd's stop: the service ends, it does not go back to idle
        sent = time.monotonic()
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        took = time.monotonic() - sent
        assert took < 1.0, f"took {took:.2f} s"
        assert "idle" not in out  # never went back to idle
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def test_serve_ends_on_sigterm_while_idle_within_a_second() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "skill", "serve", str(SHORT), "--engine", "pocketsphinx"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "idle" in proc.stdout.readline()
        time.sleep(1.5)
        proc.terminate()
        sent = time.monotonic()
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
        assert proc.returncode == 0, err
        assert took < 1.0, f"took {took:.2f} s" + err[-600:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def test_doctor_reports_every_link(capsys: pytest.CaptureFixture[str]) -> None:
    from skill.cli import main

    code = main(["doctor"])
    out = capsys.readouterr().out
    for what in ("PortAudio", "input device", "output device", "recognizer", "voice", "history", "session"):
        assert f"[ok ] {what}:" in out  # the virtual devices, the bundled voice, this run's own history
    assert "] phrase cache:" in out
    fixes = out.count("[FIX]")
    assert code == (1 if fixes else 0) and ("All good." in out) == (fixes == 0)
    assert main(["doctor", "--input-device", "no such microphone"]) == 1
    assert "[FIX] input device: --input-device no such microphone: no microphone" in capsys.readouterr().out
