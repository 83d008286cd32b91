"""The speaker's parts that need no device: the mixer, the stream's health, the played audio's runs."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from skill.speaking.mixer import CEILING, CUT_FADE_SECONDS, Mixer
from skill.speaking.played_relay import join_runs
from skill.speaking.stream_health import StreamHealth, Verdict

RATE = 8000


def tone(seconds: float, level: float = 0.5) -> np.ndarray:
    return np.full(int(seconds * RATE), level, np.float32)


def queue(mixer: Mixer, seq: int, samples: np.ndarray) -> None:
    mixer.add(seq, samples, mixer.queued(seq))


def test_sounds_play_in_order_and_each_is_done_in_the_block_it_ends_in() -> None:
    mixer = Mixer(RATE)
    queue(mixer, 1, tone(0.015, 0.25))
    queue(mixer, 2, tone(0.010, 0.5))
    out, done = mixer.fill(160)  # 20 ms
    assert done == [1]
    assert np.allclose(out[:120], 0.25) and np.allclose(out[120:], 0.5)
    out, done = mixer.fill(160)
    assert done == [2] and np.allclose(out[:40], 0.5) and np.allclose(out[40:], 0.0)
    assert not mixer.playing()


def test_a_cut_fades_out_within_a_block_and_drops_what_was_queued_before_it() -> None:
    mixer = Mixer(RATE)
    queue(mixer, 1, tone(1.0))
    late = mixer.queued(2)  # asked for before the cut, prepared after it
    mixer.fill(160)
    assert mixer.cut() == 2
    mixer.add(2, tone(1.0), late)
    out, done = mixer.fill(160)
    fade = int(CUT_FADE_SECONDS * RATE)
    assert out[0] > 0.45 and abs(out[fade - 1]) < 0.05 and np.all(out[fade:] == 0.0)
    assert done == [] and not mixer.playing()
    queue(mixer, 3, tone(0.01))
    assert np.allclose(mixer.fill(160)[0][:80], 0.5)


def test_a_volume_change_ramps_over_one_block_without_a_jump() -> None:
    mixer = Mixer(RATE)
    queue(mixer, 1, tone(1.0))
    mixer.fill(160)
    assert mixer.change_volume(-6.0) == -6.0
    out, _ = mixer.fill(160)
    assert out[0] == 0.5 and abs(out[-1] - 0.5 * 10 ** (-6 / 20)) < 1e-3
    assert np.all(np.diff(out) <= 0) and np.max(np.abs(np.diff(out))) < 0.01
    out, _ = mixer.fill(160)
    assert np.allclose(out, 0.5 * 10 ** (-6 / 20), atol=1e-4)


def test_the_loudest_phrase_meets_a_soft_ceiling_and_the_end_fade_reaches_silence() -> None:
    mixer = Mixer(RATE, gain_db=6.0)
    queue(mixer, 1, tone(5.0, 0.9))
    out, _ = mixer.fill(160)
    assert np.max(out) == np.float32(CEILING)
    mixer.fade_out(0.05)
    mixer.fill(160)
    for _ in range(3):
        out, _ = mixer.fill(160)
    assert np.all(out == 0.0)


def test_waiting_for_the_queue_to_drain_ends_when_it_has_or_when_the_stream_is_gone() -> None:
    mixer = Mixer(RATE)
    queue(mixer, 1, tone(0.03))
    assert not mixer.wait_until_drained(0.01)
    waited: list[bool] = []
    waiter = threading.Thread(target=lambda: waited.append(mixer.wait_until_drained(5.0)))
    waiter.start()
    mixer.fill(160)
    mixer.fill(160)
    waiter.join(timeout=2.0)
    assert waited == [True]
    queue(mixer, 2, tone(10.0))
    threading.Timer(0.05, mixer.release_waiters).start()
    assert mixer.wait_until_drained(5.0)


def test_a_callback_later_than_the_buffered_audio_lasts_is_a_gap_once_the_stream_flows() -> None:
    """...and the listener is told when the device ran dry (it may have played stale audio meanwhile)."""
    health = StreamHealth(block_seconds=0.02)
    gaps: list[tuple[float, float]] = []
    health.on_gap = lambda start, end: gaps.append((start, end))
    health.callback(0.0, underflow=True)  # a start-up storm: not counted
    health.flowing(latency=0.05)
    t = 1.0
    for _ in range(10):
        t += 0.02
        health.callback(t, underflow=False)
    assert health.underruns == 0 and gaps == []
    t += 0.08  # the buffered 50 ms (and a block) ran out: silence was heard
    health.callback(t, underflow=False)
    health.callback(t + 0.02, underflow=True)
    assert health.underruns == 2 and health.underflows == 2
    assert gaps == [pytest.approx((t - 0.08, t)), pytest.approx((t + 0.02 - 0.07, t + 0.02))]


def test_the_watcher_reopens_a_racing_stream_and_buffers_more_for_a_starved_one() -> None:
    health = StreamHealth(block_seconds=0.02)
    health.flowing(latency=0.05)
    t = 0.0
    verdicts = []
    for _ in range(2):  # two seconds at five times real time
        for _ in range(250):
            t += 0.004
            health.callback(t, underflow=False)
        verdicts.append(health.second_passed(0.05))
    assert verdicts == [Verdict.FINE, Verdict.RACING]
    assert health.storming(0, 0, seconds=1.0)

    starved = StreamHealth(block_seconds=0.02)
    starved.flowing(latency=0.05)
    for _ in range(3):
        starved.callback(0.0, underflow=True)
    assert starved.second_passed(0.2) is Verdict.FINE  # buffered as much as it may be already
    assert starved.second_passed(0.05) is Verdict.STARVED
    starved.forget_gaps()
    assert starved.second_passed(0.05) is Verdict.FINE


def test_callbacks_that_nearly_come_too_late_buffer_more_before_the_voice_breaks_up() -> None:
    health = StreamHealth(block_seconds=0.02)
    health.flowing(latency=0.04)  # a gap once a callback comes 60 ms after the last
    t = 0.0
    for gap in [0.02] * 40 + [0.041] * 5:  # a free CPU's worst: not close
        t += gap
        health.callback(t, underflow=False)
    assert health.second_passed(0.04) is Verdict.FINE and health.near_misses == 0
    for _ in range(3):
        t += 0.05  # in time, but with 10 ms of the buffered audio left
        health.callback(t, underflow=False)
    assert health.underruns == 0 and health.near_misses == 3
    assert health.second_passed(0.04) is Verdict.STARVED
    health.forget_gaps()
    assert health.second_passed(0.04) is Verdict.FINE


def test_only_gaps_while_it_sounded_count_as_heard() -> None:
    health = StreamHealth(block_seconds=0.02)
    health.flowing(latency=0.04)
    health.callback(1.0, underflow=False, sounding=False)
    health.callback(1.1, underflow=False, sounding=False)  # silence ran out: silence a little longer
    health.callback(1.2, underflow=False, sounding=True)   # the voice ran out
    health.callback(1.22, underflow=True, sounding=True)
    assert health.underruns == 3 and health.voice_gaps == 2


def test_played_blocks_that_follow_each_other_join_and_a_reopened_stream_starts_anew() -> None:
    a, b, c = np.ones(160, np.float32), np.full(160, 2.0, np.float32), np.full(160, 3.0, np.float32)
    runs = join_runs([(a, 10.0), (b, 10.0 + 0.02 + 0.013), (c, 11.5)], RATE)  # b jitters by 13 ms
    assert [(len(s), at) for s, at in runs] == [(320, 10.0), (160, 11.5)]
    assert np.array_equal(runs[0][0], np.concatenate([a, b]))
