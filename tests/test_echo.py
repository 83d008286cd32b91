"""The echo canceller on real speech (espeak-ng) through a simulated room: delay, gain and reverberation."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from skill.audio import ASR_RATE, AudioChunk, read_wav, resample
from skill.hearing.echo import EchoCanceller, echo_share, estimate_delay
from skill.hearing.listener import ALIGN_MARGIN_SECONDS, Listener, ReferenceBuffer
from skill.hearing.self_hearing import PlaybackTracker, SelfHearingFilter

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng makes the test speech")


def speak(tmp_path: Path, text: str, voice: str = "en-us") -> np.ndarray:
    path = tmp_path / f"{abs(hash((text, voice)))}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    samples, rate = read_wav(path)
    return resample(samples, rate, ASR_RATE)


def db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x)) + 1e-12))


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray | int]:
    tmp = tmp_path_factory.mktemp("echo")
    ref = speak(tmp, "Keeping your lower back on the bed, bend your right knee in. Repeat on the opposite side. "
                     "Slowly count to five, and lower down. Next, we will do the gentle bridge.")
    near = speak(tmp, "stop", "en-us+f3")
    rng = np.random.default_rng(7)
    impulse = np.zeros(900)
    impulse[0] = 0.7
    impulse[1:] = rng.normal(0, 1, 899) * np.exp(-np.arange(1, 900) / 150) * 0.06
    delay = 2600  # audio stack + air: about 160 ms
    echo = np.convolve(np.concatenate([np.zeros(delay), ref]), impulse)[: len(ref) + delay]
    mic = echo + rng.normal(0, 2e-3, len(echo))
    at = 6 * ASR_RATE
    mic[at:at + len(near)] += 0.5 * near
    reference = np.concatenate([ref, np.zeros(len(mic) - len(ref))])
    return {"mic": mic, "ref": reference, "near": 0.5 * near, "at": at, "delay": delay}


def test_delay_is_found_by_cross_correlation(room: dict) -> None:
    lag, peak = estimate_delay(room["mic"][: 4 * ASR_RATE], room["ref"][: 4 * ASR_RATE], ASR_RATE // 2)
    assert abs(lag - room["delay"]) <= 2
    assert peak > 0.3


def test_echo_is_removed_and_the_person_kept(room: dict) -> None:
    mic, ref, near, at, delay = room["mic"], room["ref"], room["near"], room["at"], room["delay"]
    aligned = np.concatenate([np.zeros(delay - 128), ref])
    n = (len(mic) // 256) * 256
    out = EchoCanceller().process(mic[:n], aligned[:n])
    echo_only = slice(3 * ASR_RATE, 5 * ASR_RATE)
    attenuation = db(mic[echo_only]) - db(out[echo_only])
    assert attenuation > 20  # dB of echo return loss enhancement once converged
    talk = slice(at, at + len(near))
    kept = np.corrcoef(out[talk], near)[0, 1]
    assert kept > 0.9
    assert abs(db(out[talk]) - db(near)) < 2.0


def test_echo_share_tells_the_guide_alone_from_a_person_over_it(room: dict) -> None:
    mic, ref, near, at, delay = room["mic"], room["ref"], room["near"], room["at"], room["delay"]
    aligned = np.concatenate([np.zeros(delay), ref])[: len(mic)]
    talk = slice(at, at + len(near))
    before = slice(at - len(near), at)
    assert echo_share(mic[before], aligned[before]) > 0.85  # the guide alone, through the room
    assert 0.6 < echo_share(mic[talk], aligned[talk]) < 0.85  # "stop" said 5 dB under it
    echo_only = mic[talk] - near
    equal = echo_only + near * np.sqrt(np.mean(echo_only**2) / np.mean(near**2))
    assert 0.35 < echo_share(equal, aligned[talk]) < 0.65  # said as loudly as the guide
    assert echo_share(near, aligned[talk]) < 0.15  # the person alone
    misaligned = np.roll(aligned, ASR_RATE // 10)
    assert echo_share(mic[before], misaligned[before]) < 0.3  # it needs the delay: the listener searches it


def test_silence_in_silence_out() -> None:
    out = EchoCanceller().process(np.zeros(2048), np.zeros(2048))
    assert np.all(out == 0)


def test_block_sizes_are_checked() -> None:
    with pytest.raises(ValueError):
        EchoCanceller().process(np.zeros(100), np.zeros(100))


class Recorder:
    """Stands in for the recognizer to see what the listener passes on after echo cancellation."""

    def __init__(self) -> None:
        self.audio: list[np.ndarray] = []

    def feed(self, chunk: AudioChunk) -> list:
        self.audio.append(chunk.samples())
        return []


def test_listener_finds_the_echo_delay_and_cancels_against_the_played_reference(room: dict) -> None:
    mic, ref = room["mic"], room["ref"]
    t0 = 5000.0
    reference = ReferenceBuffer()
    for start in range(0, len(ref), 1024):  # as a speaker's output callback would write it
        reference.write(ref[start:start + 1024].astype(np.float32), t0 + start / ASR_RATE)
    recorder = Recorder()
    tracker = PlaybackTracker(lambda: t0)
    listener = Listener(recorder, SelfHearingFilter(tracker), post=lambda i, t: None, reference=reference,
                        clock=lambda: t0)
    step = ASR_RATE // 10
    for start in range(0, len(mic) - step, step):
        chunk = AudioChunk.from_samples(mic[start:start + step], ASR_RATE)
        listener.feed(chunk, captured_at=t0 + start / ASR_RATE)
    out = np.concatenate(recorder.audio)
    assert listener._delay is not None
    assert abs(listener._delay + ALIGN_MARGIN_SECONDS - room["delay"] / ASR_RATE) < 0.003
    late = slice(5 * ASR_RATE, 6 * ASR_RATE)
    assert db(mic[late]) - db(out[late]) > 15


def test_the_listener_cancels_through_jittery_stream_timestamps(room: dict) -> None:
    """PulseAudio's ALSA plugin stamps each block of both streams with a time that jitters by tens of
    ms: following it garbled the canceller's alignment (1 dB of echo removed on a recorded session)."""
    mic, ref = room["mic"], room["ref"]
    t0 = 5000.0
    rng = np.random.default_rng(3)
    reference = ReferenceBuffer()
    for start in range(0, len(ref), 1024):
        reference.write(ref[start:start + 1024].astype(np.float32), t0 + start / ASR_RATE + rng.uniform(-0.025, 0.025))
    recorder = Recorder()
    listener = Listener(recorder, SelfHearingFilter(PlaybackTracker(lambda: t0)), post=lambda i, t: None,
                        reference=reference, clock=lambda: t0)
    step = 320
    for start in range(0, len(mic) - step, step):
        chunk = AudioChunk.from_samples(mic[start:start + step], ASR_RATE)
        listener.feed(chunk, captured_at=t0 + start / ASR_RATE + rng.uniform(-0.025, 0.025))
    out = np.concatenate(recorder.audio)
    late = slice(5 * ASR_RATE, 6 * ASR_RATE)
    assert db(mic[late]) - db(out[late]) > 15
