"""The command spotter (the default recognizer without Vosk's model), on the real embedding models and the
committed classifier: real people it never learnt from, held-out synthetic voices, and its failure modes."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skill.audio import ASR_RATE, read_wav
from skill.errors import UserError
from skill.hearing import spotter as spotter_module
from skill.hearing.commands import WAKE_PHRASES, all_phrases
from skill.hearing.models import find_vosk_model
from skill.hearing.pocketsphinx_engine import PocketsphinxEngine
from skill.hearing.recognizer import open_engine, recognize_samples
from skill.hearing.spotter import Spotter, SpotterEngine, summary
from tests import real_set
from tests.asr_set import TUNING_VOICES, build, set_dir

REAL_COMMANDS_FLOOR = 0.40
"""felixchen (a clipping laptop mic by a loud fan): the spotter understood 44 of his 100 commands, which it
never learnt from (pocketsphinx: 8-13). Deterministic: no state carries from one utterance to the next."""
REAL_FALSE_ACCEPTS_CEILING = 0.03
"""Real judge speakers' words and wake words: the spotter took 4 of 309 (pocketsphinx: 20)."""


@pytest.fixture(scope="module")
def engine() -> SpotterEngine:
    return SpotterEngine(all_phrases())


def intent_of(engine: SpotterEngine, path: Path) -> str:
    rec = recognize_samples(engine, *read_wav(path))
    return rec.intent.value if rec.intent else "none"


def test_real_people_it_never_learnt_from_are_understood(engine: SpotterEngine,
                                                        real_judges: list[real_set.RealClip]) -> None:
    chosen = [c for c in real_judges if c.is_command]
    got = [intent_of(engine, c.path) for c in chosen]
    assert np.mean([g == c.intent for g, c in zip(got, chosen, strict=True)]) >= REAL_COMMANDS_FLOOR, got
    # what it gets wrong it mostly lets pass (nothing happens), rather than doing another command
    wrong_command = [g for g, c in zip(got, chosen, strict=True) if g not in ("none", c.intent)]
    assert len(wrong_command) <= 3, wrong_command


def test_real_peoples_other_words_are_not_commands(engine: SpotterEngine,
                                                   real_judges: list[real_set.RealClip]) -> None:
    chosen = [c for c in real_judges if not c.is_command]
    taken = [(c.phrase, g) for c in chosen if (g := intent_of(engine, c.path)) != "none"]
    assert len(taken) <= REAL_FALSE_ACCEPTS_CEILING * len(chosen), taken
    assert not [t for t in taken if " " in t[0] and not t[0].startswith("smart")], taken  # sentences: never


@pytest.fixture(scope="module")
def clips() -> list:
    return build()


def test_held_out_synthetic_voices_clean_and_in_noise(engine: SpotterEngine, clips: list) -> None:
    held_out = [c for c in clips if c.kind == "command" and c.voice not in TUNING_VOICES]
    clean = [intent_of(engine, set_dir() / c.path) == c.intent for c in held_out if c.noise == "clean"]
    noisy = [intent_of(engine, set_dir() / c.path) == c.intent for c in held_out if c.noise != "clean"]
    assert np.mean(clean) >= 0.97 and np.mean(noisy) >= 0.9, (np.mean(clean), np.mean(noisy))


def test_sentences_and_sounds_are_not_commands(engine: SpotterEngine, clips: list) -> None:
    # the guide's own sentences ("Repeat on the opposite side", "Next, we'll do the gentle bridge") and
    # everyday talk in every voice; breathing, rustling, a fan, silence. Measured 7 of 240, four of them the
    # guide's "Slowing down." heard as "slower" (pocketsphinx: 12); the live session never obeys the guide
    # saying the word it heard (test_self_hearing)
    speech = [c for c in clips if c.kind == "speech"]
    taken = [(c.voice, c.text) for c in speech if intent_of(engine, set_dir() / c.path) != "none"]
    assert len(taken) <= 0.04 * len(speech), taken
    sounds = [c for c in clips if c.kind == "sound"]
    assert all(intent_of(engine, set_dir() / c.path) == "none" for c in sounds)


def test_only_the_phrases_asked_for_are_heard(clips: list) -> None:
    stop = next(c for c in clips if c.voice == "piper-joe" and c.text == "stop" and c.noise == "clean")
    samples, rate = read_wav(set_dir() / stop.path)
    assert recognize_samples(SpotterEngine(all_phrases()), samples, rate).intent == "stop"
    only_pause = recognize_samples(SpotterEngine(["pause", "wait"]), samples, rate)
    assert only_pause.intent is None


def test_the_summary_keeps_the_order_of_the_sounds() -> None:
    rising = np.outer(np.arange(6), np.ones(96))
    assert not np.allclose(summary(rising), summary(rising[::-1]))
    assert summary(rising).shape == (spotter_module.SUMMARY_SIZE,)


def test_too_long_and_too_short_are_not_decoded(engine: SpotterEngine) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(int(4 * ASR_RATE)) / ASR_RATE
    droning = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    quiet = (rng.standard_normal(len(t)) * 1e-3).astype(np.float32)
    long = engine.decode(np.concatenate([quiet[:8000], droning, quiet[:8000]]))
    assert long.intent is None and "too long" in long.reason
    click = quiet.copy()
    click[16000:16040] = 0.5
    assert engine.decode(click).intent is None


def test_without_vosk_the_spotter_listens_and_the_wake_phrases_go_to_a_grammar() -> None:
    if find_vosk_model() is not None:
        pytest.skip("a Vosk model is installed here: auto picks it")
    assert isinstance(open_engine(personal=False), SpotterEngine)
    for engine in ("auto", "spotter"):
        assert isinstance(open_engine(engine, phrases=WAKE_PHRASES, quiet=True, personal=False), PocketsphinxEngine)


def test_a_damaged_spotter_falls_back_to_pocketsphinx_with_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "command_spotter.npz"
    broken.write_bytes(b"PK\x03\x04 cut off")
    monkeypatch.setattr(spotter_module, "SPOTTER_FILE", broken)
    if find_vosk_model() is not None:
        pytest.skip("a Vosk model is installed here: auto picks it")
    with caplog.at_level(logging.WARNING):
        engine = open_engine(personal=False)
    assert isinstance(engine, PocketsphinxEngine)
    assert [r.message for r in caplog.records if "spotter did not load" in r.message]
    with pytest.raises(UserError, match="did not load"):
        open_engine("spotter", personal=False)


def test_a_spotter_of_another_shape_is_refused(tmp_path: Path) -> None:
    good = Spotter.load()
    other = tmp_path / "other.npz"
    np.savez(other, labels=np.array(["stop", "none"]), mean=good.mean[:10], scale=good.scale[:10],
             hidden_weights=good.hidden_weights, hidden_biases=good.hidden_biases, out_weights=good.out_weights,
             out_biases=good.out_biases, threshold=np.array(0.5))
    with pytest.raises(ValueError, match="train_spotter"):
        Spotter.load(other)


def test_recognize_says_what_the_spotter_heard_and_why(clips: list) -> None:
    stop = next(c for c in clips if c.voice == "espeak-us-m7" and c.text == "stop" and c.noise == "clean")
    sentence = next(c for c in clips if c.voice == "piper-joe" and c.text == "Let's begin.")
    proc = subprocess.run([sys.executable, "-m", "skill", "-v", "recognize", str(set_dir() / stop.path),
                           str(set_dir() / sentence.path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"{set_dir() / stop.path}\tstop"), lines
    assert lines[1].startswith(f"{set_dir() / sentence.path}\tnone"), lines
