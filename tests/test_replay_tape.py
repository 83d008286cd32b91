"""scripts/replay_tape.py feeds a session's tape back in the order it was recorded."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from replay_tape import in_order


def test_a_long_chunk_stamped_late_is_still_fed_before_the_next() -> None:
    # 40 ms microphone blocks come out of the resampler 540 or 1080 samples long, their stamps jitter: this
    # long one ends 67.5 ms after its stamp, the next (stamped 30 ms later) 63.75 ms after it
    long, short = np.ones(1080, np.float32), np.full(540, 2.0, np.float32)
    track = [(10.0, short), (10.04, long), (10.07, short), (10.11, short)]
    replayed = in_order(track, audio_in=True)
    assert [at for _, at, _ in replayed] == [10.0, 10.04, 10.07, 10.11]
    whens = [when for when, _, _ in replayed]
    assert whens == sorted(whens)
    assert whens[0] == 10.0 + 540 / 16000 and whens[1] == whens[2] == 10.04 + 1080 / 16000
    assert whens[3] == 10.11 + 540 / 16000


def test_played_audio_is_fed_at_its_own_time() -> None:
    block = np.zeros(640, np.float32)
    replayed = in_order([(1.0, block), (1.04, block), (1.02, block)], audio_in=False)
    assert [(when, at) for when, at, _ in replayed] == [(1.0, 1.0), (1.04, 1.04), (1.04, 1.02)]
