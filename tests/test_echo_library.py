"""The library echo cancellers (skill/hearing/echo_library.py) on real speech (espeak-ng) through a simulated room,
and the fallback to the home-made canceller when a library cannot load, fails or diverges."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from skill.audio import ASR_RATE, AudioChunk
from skill.hearing.echo import BLOCK, EchoCanceller
from skill.hearing.echo_delay import ALIGN_MARGIN_SECONDS
from skill.hearing.echo_library import (
    FRAME,
    HomeCanceller,
    SafeCanceller,
    SpeexCanceller,
    WebRtcCanceller,
    open_canceller,
)
from skill.hearing.listener import Listener
from skill.hearing.reference import ReferenceBuffer
from skill.hearing.self_hearing import PlaybackTracker, SelfHearingFilter
from tests.test_echo import Recorder, db, pytestmark, speak

__all__ = ["pytestmark"]  # espeak-ng makes the test speech

MARGIN = int(ALIGN_MARGIN_SECONDS * ASR_RATE)


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The guide's sentences through a room (direct path, then 60 ms of reverberation) 160 ms late, room
    noise, and the person saying "stop" 5 dB under the echo 6 s in."""
    tmp: Path = tmp_path_factory.mktemp("echo-library")
    ref = speak(tmp, "Keeping your lower back on the bed, bend your right knee in. Repeat on the opposite side. "
                     "Slowly count to five, and lower down. Next, we will do the gentle bridge.")
    near = 0.5 * speak(tmp, "stop", "en-us+f3")
    rng = np.random.default_rng(11)
    impulse = np.zeros(900)
    impulse[0] = 0.7
    impulse[1:] = rng.normal(0, 1, 899) * np.exp(-np.arange(1, 900) / 150) * 0.06
    delay = 2600
    echo = np.convolve(np.concatenate([np.zeros(delay), ref]), impulse)[: len(ref) + delay]
    mic = echo + rng.normal(0, 2e-3, len(echo))
    at = 6 * ASR_RATE
    mic[at:at + len(near)] += near
    n = len(mic) // 1280 * 1280
    # as the listener hands it over: aligned on the measured delay, less its margin
    aligned = np.concatenate([np.zeros(delay - MARGIN), ref, np.zeros(len(mic))])[:n]
    return {"mic": mic[:n].astype(np.float32), "aligned": aligned.astype(np.float32), "near": near, "at": at,
            "ref": np.concatenate([ref, np.zeros(n)])[:n].astype(np.float32)}


def erle(room: dict, out: np.ndarray, seconds: slice) -> float:
    part = slice(seconds.start * ASR_RATE, seconds.stop * ASR_RATE)
    return db(room["mic"][part]) - db(out[part])


def test_webrtc_removes_the_echo(room: dict) -> None:
    pytest.importorskip("pywebrtc_audio")
    out = WebRtcCanceller().process(room["mic"], room["aligned"])
    assert out.dtype == np.float32 and len(out) == len(room["mic"])
    assert erle(room, out, slice(1, 3)) > 25  # AEC3 has learnt the room within a second
    assert erle(room, out, slice(3, 5)) > 30  # the home-made one: about 21 dB here


def test_webrtc_without_noise_suppression_removes_the_echo(room: dict) -> None:
    pytest.importorskip("pywebrtc_audio")
    out = WebRtcCanceller(noise_suppression=False).process(room["mic"], room["aligned"])
    assert erle(room, out, slice(3, 5)) > 30


def test_speex_removes_the_echo(room: dict) -> None:
    try:
        canceller = SpeexCanceller()
    except OSError:
        pytest.skip("no libspeexdsp")
    out = canceller.process(room["mic"], room["aligned"])
    assert erle(room, out, slice(3, 5)) > 25


def test_adapters_check_block_sizes() -> None:
    pytest.importorskip("pywebrtc_audio")
    with pytest.raises(ValueError):
        WebRtcCanceller().process(np.zeros(100, np.float32), np.zeros(100, np.float32))
    assert WebRtcCanceller().block == FRAME
    with pytest.raises(ValueError):  # the caller's mistake is not taken for the library failing
        SafeCanceller(WebRtcCanceller()).process(np.zeros(100, np.float32), np.zeros(100, np.float32))


def test_a_missing_library_leaves_the_home_made_canceller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pywebrtc_audio", None)  # import pywebrtc_audio now fails
    monkeypatch.setitem(sys.modules, "livekit", None)
    for name in ("webrtc", "webrtc-no-ns", "livekit"):
        assert isinstance(open_canceller(name), HomeCanceller)
    monkeypatch.setenv("BEDTIME_STRETCH_AEC", "webrtc")
    assert isinstance(open_canceller(), HomeCanceller)
    monkeypatch.delenv("BEDTIME_STRETCH_AEC")
    assert isinstance(open_canceller(), HomeCanceller)  # the default too
    listener = Listener(Recorder(), SelfHearingFilter(PlaybackTracker(lambda: 0.0)), post=lambda i, t: None,
                        reference=ReferenceBuffer())
    assert isinstance(listener.canceller, HomeCanceller)


def test_a_missing_shared_library_leaves_the_home_made_canceller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ctypes.util.find_library", lambda name: "libspeexdsp-not-installed.so.1")
    assert isinstance(open_canceller("speex"), HomeCanceller)


def test_unknown_or_home_names_give_the_home_made_canceller() -> None:
    assert isinstance(open_canceller("home"), HomeCanceller)
    assert isinstance(open_canceller("no-such-canceller"), HomeCanceller)


class Louder:
    """A canceller gone wrong: it adds sound of its own (its output 6 dB over the mic)."""

    block = FRAME
    name = "louder"

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        return (2.0 * mic + ref).astype(np.float32)


class Broken:
    block = FRAME
    name = "broken"

    def __init__(self) -> None:
        self.calls = 0

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls > 3:
            raise RuntimeError("the native library failed")
        return np.asarray(mic, np.float32)


def feed_listener(room: dict, canceller: object) -> np.ndarray:
    """The room's mic through a listener using `canceller`, as in tests/test_echo.py; what it passed on."""
    mic, t0 = room["mic"], 5000.0
    ref = room["ref"]  # what was played, unaligned: the listener finds the delay
    reference = ReferenceBuffer()
    for start in range(0, len(ref), 1024):
        reference.write(ref[start:start + 1024].astype(np.float32), t0 + start / ASR_RATE)
    recorder = Recorder()
    listener = Listener(recorder, SelfHearingFilter(PlaybackTracker(lambda: t0)), post=lambda i, t: None,
                        reference=reference, clock=lambda: t0, canceller=canceller)  # type: ignore[arg-type]
    step = 320
    for start in range(0, len(mic) - step, step):
        listener.feed(AudioChunk.from_samples(mic[start:start + step], ASR_RATE, captured_at=t0 + start / ASR_RATE))
    return np.concatenate(recorder.audio)


@pytest.mark.parametrize("primary", [Louder, Broken])
def test_a_failing_or_diverging_library_gives_way_to_the_home_made_one_and_the_session_goes_on(
        room: dict, primary: type) -> None:
    safe = SafeCanceller(primary())
    out = feed_listener(room, safe)
    assert safe.fell_back
    assert isinstance(safe._active, EchoCanceller) and safe.block == BLOCK
    assert len(out) > len(room["mic"]) - 320 - 2 * BLOCK  # every block was passed on, through the switch
    late = slice(5 * ASR_RATE, 6 * ASR_RATE)
    assert db(room["mic"][late]) - db(out[late]) > 10  # the home-made canceller took over and is learning


def test_the_listener_uses_webrtc_when_asked(room: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pywebrtc_audio")
    monkeypatch.setenv("BEDTIME_STRETCH_AEC", "webrtc")
    safe = open_canceller()
    assert isinstance(safe, SafeCanceller) and safe.name == "webrtc"
    out = feed_listener(room, safe)
    assert not safe.fell_back
    late = slice(5 * ASR_RATE, 6 * ASR_RATE)
    assert db(room["mic"][late]) - db(out[late]) > 25
