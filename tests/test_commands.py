"""The command vocabulary: every phrase the issues name maps to its intent; sentences do not."""

from __future__ import annotations

import pytest

from skill.hearing.commands import PHRASES, WAKE_PHRASES, Intent, all_phrases, normalize, parse, vocabulary

MUST_WORK = {
    "start": Intent.START, "begin": Intent.START, "ready": Intent.START, "I'm ready": Intent.START,
    "next": Intent.NEXT, "next one": Intent.NEXT, "next stretch": Intent.NEXT, "skip": Intent.NEXT,
    "back": Intent.BACK, "go back": Intent.BACK, "previous": Intent.BACK,
    "repeat": Intent.REPEAT, "again": Intent.REPEAT, "say that again": Intent.REPEAT,
    "slower": Intent.SLOWER, "slow down": Intent.SLOWER, "faster": Intent.FASTER, "speed up": Intent.FASTER,
    "pause": Intent.PAUSE, "wait": Intent.PAUSE, "hold on": Intent.PAUSE,
    "resume": Intent.RESUME, "continue": Intent.RESUME, "go on": Intent.RESUME, "keep going": Intent.RESUME,
    "stop": Intent.STOP, "no": Intent.NO, "don't stop": Intent.NO, "louder": Intent.LOUDER, "quieter": Intent.QUIETER, "softer": Intent.QUIETER,
    "help": Intent.HELP, "what can I say": Intent.HELP,
    "what's next": Intent.STATUS, "where am I": Intent.STATUS, "how long": Intent.STATUS, "how many left": Intent.STATUS,
}


@pytest.mark.parametrize("phrase", sorted(MUST_WORK))
def test_phrase_means_its_intent(phrase: str) -> None:
    assert parse(phrase) == MUST_WORK[phrase]


@pytest.mark.parametrize("text", ["Next, please.", "  NEXT  ", "okay next", "um, slow down"])
def test_case_punctuation_and_fillers_do_not_matter(text: str) -> None:
    assert parse(text) is not None


@pytest.mark.parametrize("text", [
    "Next, we'll do the gentle bridge.", "Repeat on the opposite side.", "Slowly count to five.",
    "Hold for ten.", "I don't want to stop yet", "", "please", "bedtime stretches",
])
def test_sentences_that_contain_command_words_are_not_commands(text: str) -> None:
    assert parse(text) is None


def test_typographic_apostrophes() -> None:
    assert normalize("What\u2019s NEXT?") == "what's next"
    assert parse("I\u2019m ready") == Intent.START


def test_every_intent_has_phrases_and_no_phrase_is_ambiguous() -> None:
    assert set(PHRASES) == set(Intent)
    phrases = [p for ps in PHRASES.values() for p in ps]
    assert len(phrases) == len(set(phrases))
    assert all(p == normalize(p) for p in phrases)
    assert set(all_phrases()) == set(phrases)
    assert {"bedtime", "stretches"} <= set(vocabulary())
    assert all(parse(p) is None or parse(p) == Intent.START for p in WAKE_PHRASES)
