"""The phrase cache picks a prepared speaking rate rather than synthesizing mid-session."""

from __future__ import annotations

from pathlib import Path

from skill.speaking.voice import PhraseCache, Voice, rate_for_tempo


def test_a_live_tempo_change_uses_the_nearest_prepared_rate(tmp_path: Path) -> None:
    cache = PhraseCache(Voice(), tmp_path)
    cache.get("One", "calm")
    assert rate_for_tempo(1.25) == "slow" and not cache.has("One", "slow")
    assert cache.best_rate("One", "slow") == "calm"
    assert cache.best_rate("One", "brisk") == "calm"
    cache.get("One", "slow")
    assert cache.best_rate("One", "slow") == "slow"
    assert cache.best_rate("One", "brisk") == "calm"  # calm (1.1) is nearer brisk (0.95) than slow (1.3)
    assert cache.best_rate("never said", "slow") == "slow"  # nothing cached: made at the asked rate
