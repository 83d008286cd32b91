"""Real playback on the virtual speaker, recorded from its monitor: what is played is what was sent,
a cut silences it at once, the volume steps are real.

Each run plays into its own null sink (PULSE_SINK), not the shared `speaker`: other test runs and
benchmarks on the same sound server would otherwise be recorded too."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from skill.audio import loudness_lufs, resample
from skill.session.effects import Chime, Say
from skill.speaking.speaker import LiveSpeaker
from skill.speaking.voice import PhraseCache, Voice
from tests import vaudio
from tests.vaudio import needs_virtual_audio

pytestmark = needs_virtual_audio

LONG = "Keeping your lower back on the bed and your hips level, bend your right knee in towards your right armpit."


@pytest.fixture(autouse=True, scope="module")
def private_sink() -> Iterator[str]:
    """A null sink of this run's own, made the default output for the speakers under test."""
    name = f"bs_playback_test_{os.getpid()}"
    module = subprocess.run(["pactl", "load-module", "module-null-sink", f"sink_name={name}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    previous = os.environ.get("PULSE_SINK")
    os.environ["PULSE_SINK"] = name
    try:
        yield name
    finally:
        if previous is None:
            del os.environ["PULSE_SINK"]
        else:
            os.environ["PULSE_SINK"] = previous
        subprocess.run(["pactl", "unload-module", module], capture_output=True)


def MonitorRecorder() -> vaudio.MonitorRecorder:
    """A recorder of the private sink's monitor."""
    return vaudio.MonitorRecorder(source=os.environ["PULSE_SINK"] + ".monitor")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> PhraseCache:
    return PhraseCache(Voice(), tmp_path_factory.mktemp("phrases"))


class Done:
    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.event = threading.Event()

    def __call__(self, seq: int) -> None:
        self.seqs.append(seq)
        self.event.set()

    def wait_for(self, seq: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while max(self.seqs, default=0) < seq and time.monotonic() < deadline:
            time.sleep(0.01)
        assert max(self.seqs, default=0) >= seq, f"seq {seq} never finished: {self.seqs}"


def envelope_db(x: np.ndarray, rate: int, frame: float = 0.01) -> np.ndarray:
    n = int(rate * frame)
    k = len(x) // n
    return 20 * np.log10(np.sqrt(np.mean(x[: k * n].reshape(k, n) ** 2, axis=1)) + 1e-9)


def test_what_is_played_is_what_was_sent(cache: PhraseCache) -> None:
    done = Done()
    sent, sr = cache.get(LONG)
    speaker = LiveSpeaker(done, cache)  # before the recorder (see MonitorRecorder)
    with MonitorRecorder() as rec:
        speaker.say(Say(1, LONG))
        done.wait_for(1)
        time.sleep(0.3)
        speaker.close(fade=False)
    got = rec.audio()
    ref = resample(sent, sr, rec.rate)
    corr = np.correlate(got, ref, mode="valid") if len(got) >= len(ref) else np.correlate(ref, got, mode="valid")
    peak = float(np.max(np.abs(corr)) / (np.linalg.norm(ref) * np.linalg.norm(got) + 1e-12))
    # normalized by the whole recording: the phrase is most of it, so a faithful copy scores near 1
    assert peak > 0.9
    level = loudness_lufs(got, rec.rate)
    assert abs(level - loudness_lufs(ref, rec.rate)) < 1.5


def test_a_cut_silences_within_100_ms(cache: PhraseCache) -> None:
    done = Done()
    blocks: list[tuple[float, np.ndarray]] = []
    speaker = LiveSpeaker(done, cache, on_played=lambda played: blocks.append((played.captured_at, played.samples())))
    sent, sr = cache.get(LONG)
    with MonitorRecorder() as rec:
        speaker.say(Say(1, LONG))
        speaker.say(Say(2, "One"))
        time.sleep(1.5)
        t_cut = time.monotonic()
        speaker.cut()
        time.sleep(0.8)
        speaker.close(fade=False)
    assert max(done.seqs) == 2  # cut reports everything queued as done
    # when the phrase's first sample reached the speaker, by the output stream's clock
    first = next(at + np.nonzero(samples)[0][0] / speaker.rate for at, samples in blocks if np.any(samples))
    got = rec.audio()
    head = resample(sent, sr, rec.rate)[: rec.rate // 2]
    start = int(np.argmax(np.correlate(got, head, mode="valid")))  # the phrase's first sample, in the recording
    end = int(np.nonzero(np.abs(got) > 10 ** (-50 / 20))[0][-1])  # the last audible sample
    late = (end - start) / rec.rate - (t_cut - first)
    assert late < 0.100, f"still playing {late * 1000:.0f} ms after the cut"
    assert late > -0.05  # and it did play right up to the cut


def test_louder_is_three_db_louder_and_bounded(cache: PhraseCache) -> None:
    done = Done()
    speaker = LiveSpeaker(done, cache)  # before the recorder (see MonitorRecorder)
    with MonitorRecorder() as rec:
        speaker.say(Say(1, "Breathe in."))
        done.wait_for(1)
        time.sleep(0.2)
        first = len(rec.audio())
        assert speaker.change_volume(3.0) == 3.0
        speaker.say(Say(2, "Breathe in."))
        done.wait_for(2)
        time.sleep(0.2)
        speaker.close(fade=False)
    audio = rec.audio()
    a, b = loudness_lufs(audio[:first], rec.rate), loudness_lufs(audio[first:], rec.rate)
    assert 2.0 < b - a < 4.0
    for _ in range(10):
        speaker.change_volume(3.0)
    assert speaker.gain_db == 9.0


def test_chime_and_queue_order_and_close_with_fade(cache: PhraseCache) -> None:
    done = Done()
    speaker = LiveSpeaker(done, cache, noise=True)
    with MonitorRecorder() as rec:
        speaker.chime(Chime(1))
        speaker.say(Say(2, "Two"))
        done.wait_for(2)
        assert done.seqs == [1, 2]
        speaker.close(fade=True)
    env = envelope_db(rec.audio(), rec.rate)
    assert env.max() > -40  # the chime and the word
    assert env[-20:].max() < -55  # the background noise faded out at the end


def test_a_cached_session_never_loads_the_voice_even_after_slower(cache: PhraseCache) -> None:
    cache.get("Three")  # prepared at the calm rate only, as `prepare` does for tempo 1
    cold = PhraseCache(Voice(), cache.folder.parent)  # a new session's view of the same cache
    done = Done()
    speaker = LiveSpeaker(done, cold)
    speaker.say(Say(1, "Three", tempo=1.0))
    speaker.say(Say(2, "Three", tempo=1.25))  # "slower": the slow rate is not prepared
    done.wait_for(2)
    speaker.close(fade=False)
    assert not cold.voice.loaded


def test_no_output_device_is_a_clear_error(cache: PhraseCache) -> None:
    from skill.devices import NoDevice

    with pytest.raises(NoDevice, match="--output-device nothing-like-this: no speaker"):
        LiveSpeaker(Done(), cache, device="nothing-like-this")


def test_a_missing_voice_file_is_a_one_line_error(tmp_path: Path) -> None:
    from skill.errors import UserError

    with pytest.raises(UserError, match="no such voice file"):
        Voice(tmp_path / "nope.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    (tmp_path / "broken.onnx.json").write_text('{"audio": {"sample_rate": 22050}}')
    voice = Voice(broken)
    with pytest.raises(UserError, match="cannot load this voice"):
        voice.synthesize("hello", 1.0)
