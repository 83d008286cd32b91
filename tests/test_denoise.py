"""Noise reduction before recognition, on real speech from the bundled voice's test clips."""

from __future__ import annotations

import numpy as np

from skill.audio import ASR_RATE, FRAME, frame_db, read_wav
from skill.hearing.denoise import reduce_noise
from skill.hearing.padding import as_utterance, background
from tests.asr_set import build, mix, noise, set_dir


def _speech() -> np.ndarray:
    clip = next(c for c in build() if c.voice == "piper-joe" and c.text == "say that again" and c.noise == "clean")
    return read_wav(set_dir() / clip.path)[0]


def test_steady_noise_is_taken_down_and_the_speech_kept() -> None:
    clean = _speech()
    noisy = mix(clean[int(0.4 * ASR_RATE): -int(0.4 * ASR_RATE)], "white", 10, np.random.default_rng(3))
    cleaned = reduce_noise(noisy)
    assert len(cleaned) == len(noisy)
    before, after = frame_db(noisy), frame_db(cleaned)
    quiet = before < np.percentile(before, 20)
    loud = before > np.percentile(before, 90)
    assert np.median(before[quiet] - after[quiet]) >= 12  # the background is at least 12 dB lower
    assert abs(np.median(before[loud] - after[loud])) <= 3  # the loudest speech is within 3 dB


def test_clean_audio_is_left_alone() -> None:
    clean = _speech()
    assert np.array_equal(reduce_noise(clean), clean)


def test_padding_continues_the_recording_s_own_background() -> None:
    rng = np.random.default_rng(0)
    rumble = noise("brown", 2 * ASR_RATE, rng) * 0.05
    pad = background(rumble, ASR_RATE // 2)
    assert len(pad) == ASR_RATE // 2
    spectrum = lambda x: np.abs(np.fft.rfft(x[: 8 * FRAME])) ** 2  # noqa: E731
    low = slice(1, 8)  # under 250 Hz
    high = slice(64, None)  # over 2 kHz
    # a brown pad is a rumble like the recording, not a hiss at its level
    assert spectrum(pad)[low].mean() > 100 * spectrum(pad)[high].mean()


def test_padding_joins_the_recording_without_clicks() -> None:
    # a rumble's frames laid end to end meet at different heights: each step is a click that reads as speech
    for seed in range(3):
        rumble = noise("brown", 2 * ASR_RATE, np.random.default_rng(seed)) * 0.05
        padded = as_utterance(rumble, ASR_RATE)
        assert np.abs(np.diff(padded)).max() <= 1.2 * np.abs(np.diff(rumble)).max()
