from __future__ import annotations

from skill.hearing.commands import Intent
from skill.hearing.self_hearing import PlaybackTracker, SelfHearingFilter


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[FakeTime, PlaybackTracker, SelfHearingFilter]:
    clock = FakeTime()
    tracker = PlaybackTracker(clock)
    return clock, tracker, SelfHearingFilter(tracker, tail=0.6)


def test_quiet_guide_accepts_everything() -> None:
    _, _, f = setup()
    assert f.accept(Intent.NEXT, "next", 100.0)
    assert not f.accept(None, "blah", 100.0)


def test_while_talking_any_command_not_in_the_sentence() -> None:
    clock, tracker, f = setup()
    tracker.handed(1, "Repeat on the opposite side.")
    clock.now = 101.0
    assert not f.accept(Intent.REPEAT, "repeat", 101.0)  # its own word
    assert f.accept(Intent.REPEAT, "say that again", 101.0)  # the person, in other words
    for intent, words in ((Intent.NEXT, "next"), (Intent.SLOWER, "slower"), (Intent.LOUDER, "louder"),
                          (Intent.STATUS, "what's next"), (Intent.HELP, "help"), (Intent.STOP, "stop")):
        assert f.accept(intent, words, 101.0), words  # barge-in, for every command
    tracker.handed(2, "Breathe slowly.")
    tracker.done(1)
    clock.now = 105.0
    assert not f.accept(Intent.SLOWER, "slower", 105.0)  # "slowly" is the guide's word
    tracker.handed(3, "You can say next, repeat, slower, pause, or stop at any time.")
    tracker.done(2)
    clock.now = 107.0
    assert not f.accept(Intent.STOP, "stop", 107.0)
    assert not f.accept(Intent.PAUSE, "pause", 107.0)
    assert not f.accept(Intent.NEXT, "next", 107.0)


def test_stems_match_forms_of_a_word() -> None:
    clock, tracker, f = setup()
    tracker.handed(1, "Okay, stopping here. Sleep well.")
    clock.now = 100.5
    assert not f.accept(Intent.STOP, "stop", 100.5)
    tracker.handed(2, "Hold for ten.")
    tracker.done(1)
    clock.now = 102.0
    assert not f.accept(Intent.PAUSE, "hold on", 102.0)
    assert f.accept(Intent.PAUSE, "wait", 102.0)


def test_tail_after_the_guide_stops() -> None:
    clock, tracker, f = setup()
    tracker.handed(1, "Let's go again.")
    clock.now = 101.0
    tracker.done(1)
    clock.now = 101.3
    assert not f.accept(Intent.REPEAT, "again", 101.3, duration=0.4)
    clock.now = 103.0
    assert f.accept(Intent.REPEAT, "again", 103.0, duration=0.4)


def test_queued_utterances_start_when_the_previous_one_ends() -> None:
    clock, tracker, _ = setup()
    tracker.handed(1, "One")
    tracker.handed(2, "Two")
    assert tracker.playing_between(100.0, 100.1) == ["One"]
    clock.now = 101.0
    tracker.done(1)
    clock.now = 101.5
    assert tracker.playing_between(101.2, 101.5) == ["Two"]
    assert tracker.busy()
    tracker.done(2)
    assert not tracker.busy()
