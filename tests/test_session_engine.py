"""The controller, pacer and engine together, on a virtual clock: whole sessions in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from skill.hearing.commands import Intent
from skill.routine.definition import Routine, load_routine, parse_routine
from skill.routine.script import Position, estimate_speech_seconds
from skill.session.controller import step
from skill.session.effects import VOLUME_MAX_DB, Begin, Effect, Event, Heard, Log, Say, SpeakerBack, SpeakerLost
from skill.session.loop import LogEvent, simulate
from skill.session.state import STOP_ANSWER_SECONDS, STOP_GRACE_SECONDS, State, initial_state


@pytest.fixture(scope="module")
def routine() -> Routine:
    return load_routine()


@pytest.fixture(scope="module")
def plain(routine: Routine) -> list[LogEvent]:
    return simulate(routine)


def sim(routine: Routine, *commands: tuple[float, str]) -> list[LogEvent]:
    return simulate(routine, commands)


def of(events: Sequence[LogEvent], event: str, **match: object) -> list[LogEvent]:
    return [e for e in events if e.event == event and all(e.data.get(k) == v for k, v in match.items())]


def said(events: Sequence[LogEvent]) -> list[str]:
    return [e.data["text"] for e in of(events, "say")]


def stretch_spans(events: Sequence[LogEvent]) -> list[tuple[LogEvent, list[LogEvent]]]:
    """Each `stretch` event with the events up to the next one."""
    spans: list[tuple[LogEvent, list[LogEvent]]] = []
    for e in events:
        if e.event == "stretch":
            spans.append((e, []))
        elif spans:
            spans[-1][1].append(e)
    return spans


def counts_in(span: list[LogEvent]) -> list[int]:
    return [e.data["n"] for e in of(span, "cue", kind="count")]


def first_count_time(events: Sequence[LogEvent], n: int) -> float:
    return of(events, "cue", kind="count", n=n)[0].t


def test_full_session_covers_the_eight_stretches_in_order_and_ends_completed(routine: Routine) -> None:
    events = simulate(routine)  # (how fast it runs is scripts/bench_session.py's business, not a test's)
    spans = stretch_spans(events)
    order = list(dict.fromkeys(e.data["id"] for e, _ in spans))
    assert order == [s.id for s in routine.stretches]
    sides = [(e.data["id"], e.data["side"]) for e, _ in spans if e.data["repetition"] == 1]
    assert sides == [
        ("knee-hugs", "right"), ("knee-hugs", "left"), ("knee-hugs", "both"),
        ("thread-the-needle", "right"), ("thread-the-needle", "left"),
        ("gentle-bridge", None), ("knees-together-sway", "left"), ("knees-together-sway", "right"),
        ("bottoms-of-the-feet-together", None), ("childs-pose", None),
        ("pigeon", "right"), ("pigeon", "left"), ("spinal-twist", "right"), ("spinal-twist", "left"),
    ]
    for stretch, span in spans:
        if stretch.data["id"] == "knee-hugs":
            assert counts_in(span) == list(range(1, 11))
        if stretch.data["id"] == "spinal-twist":
            breaths = of(span, "cue", kind="breath", phase="in")
            assert [e.data["n"] for e in breaths] == list(range(1, 21))
    reps = [e.data["repetition"] for e, _ in spans if e.data["id"] == "gentle-bridge"]
    assert reps == [1, 2, 3]  # nobody answered "go again?": the routine's default count
    end = events[-1]
    assert end.event == "end" and end.data["completed"] is True
    assert 8 * 60 <= end.t <= 30 * 60
    assert said(events)[-1] == "Sleep tight."
    assert [e.t for e in events] == sorted(e.t for e in events)


def test_every_event_has_the_documented_fields(plain: list[LogEvent]) -> None:
    kinds = {e.event for e in plain}
    assert {"say", "stretch", "cue", "state", "end"} <= kinds
    for e in plain:
        if e.event == "stretch":
            assert set(e.data) == {"id", "index", "name", "side", "repetition"}
            assert e.data["side"] in ("right", "left", "both", None)
        if e.event == "cue" and e.data["kind"] == "breath":
            assert e.data["phase"] in ("in", "out") and e.data["n"] >= 1


def _count_interval_after(events: list[LogEvent], t: float) -> float:
    later = [e.t for e in of(events, "cue", kind="count") if e.t > t + 2.0][:2]
    return later[1] - later[0]


@pytest.mark.parametrize(("word", "low", "high"), [("slower", 1.2, 10.0), ("slow down", 1.2, 10.0),
                                                   ("faster", 0.0, 0.85), ("speed up", 0.0, 0.85)])
def test_tempo_change_during_a_hold_stretches_the_count_interval(
        routine: Routine, plain: list[LogEvent], word: str, low: float, high: float) -> None:
    t = first_count_time(plain, 2) + 0.1
    before = first_count_time(plain, 3) - first_count_time(plain, 2)
    events = sim(routine, (t, word))
    ratio = _count_interval_after(events, t) / before
    assert low <= ratio <= high
    assert of(events, "tempo")


def test_pause_silences_everything_until_resume_then_the_hold_carries_on(
        routine: Routine, plain: list[LogEvent]) -> None:
    t_pause = first_count_time(plain, 4) + 0.2
    t_resume = t_pause + 120
    events = sim(routine, (t_pause, "pause"), (t_resume, "continue"))
    quiet = [e for e in events if t_pause < e.t < t_resume and e.event in ("say", "cue", "chime")]
    assert quiet == []
    assert of(events, "state", state="paused")[0].t == pytest.approx(t_pause)
    first_span = stretch_spans(events)[0][1]
    assert counts_in(first_span) == list(range(1, 11))  # 5..10 after the pause, nothing counted twice
    fifth = of(first_span, "cue", kind="count", n=5)[0]
    assert t_resume < fifth.t < t_resume + 4
    assert events[-1].data["completed"] is True


def test_pause_during_an_instruction_resumes_by_saying_that_line_again(routine: Routine, plain: list[LogEvent]) -> None:
    line = next(e for e in of(plain, "say") if e.data["text"].startswith("Keeping your lower back on the bed and your"))
    events = sim(routine, (line.t + 1.0, "pause"), (line.t + 30, "resume"))
    after = [e.data["text"] for e in of(events, "say") if e.t >= line.t + 30][:2]
    assert after == ["Okay, let's carry on.", line.data["text"]]


def test_stop_goes_silent_at_once_and_ends_a_few_seconds_later_not_completed(routine: Routine,
                                                                           plain: list[LogEvent]) -> None:
    t = first_count_time(plain, 6) + 0.3
    events = sim(routine, (t, "stop"))
    stopping = of(events, "state", state="stopping")[0]
    assert stopping.t == pytest.approx(t)
    prompt = "Stopping. To carry on, say keep going."
    assert said([e for e in events if e.t >= t]) == [prompt, "Okay, stopping here. Sleep well."]
    assert not [e for e in events if e.event == "cue" and e.t > t]
    end = of(events, "end")[0]
    assert end.t == pytest.approx(t + max(STOP_GRACE_SECONDS, estimate_speech_seconds(prompt) + STOP_ANSWER_SECONDS))
    assert end.data["completed"] is False


def test_after_stop_the_person_has_seconds_to_answer_once_the_guide_has_said_how(routine: Routine,
                                                                               plain: list[LogEvent]) -> None:
    """A slow voice (or a long prompt) must not eat the time to say "keep going": the grace runs at least
    STOP_ANSWER_SECONDS from the end of the prompt."""
    t = first_count_time(plain, 6) + 0.3
    def seconds(text: str, tempo: float) -> float:
        return 5.0 if text.startswith("Stopping.") else estimate_speech_seconds(text, tempo)

    events = simulate(routine, [(t, "stop")], speech_seconds=seconds)
    end = of(events, "end")[0]
    assert end.t == pytest.approx(t + 5.0 + STOP_ANSWER_SECONDS)
    # said 12.5 s after "stop": past the plain 8 s grace, but within the answer's time after the prompt
    events = simulate(routine, [(t, "stop"), (t + 5.0 + STOP_ANSWER_SECONDS - 0.5, "keep going")],
                      speech_seconds=seconds)
    assert of(events, "state", state="stop_undone")
    assert not of(events, "end") or of(events, "end")[0].data["completed"] is True


@pytest.mark.parametrize("undo", ["keep going", "no", "resume"])
def test_a_misheard_stop_is_undone_by_one_word_and_the_hold_carries_on(routine: Routine, plain: list[LogEvent],
                                                                      undo: str) -> None:
    t = first_count_time(plain, 6) + 0.3
    events = sim(routine, (t, "stop"), (t + 4, undo))
    assert of(events, "state", state="stop_undone")[0].t == pytest.approx(t + 4)
    assert counts_in(stretch_spans(events)[0][1]) == list(range(1, 11))  # 7..10 after the undo, none twice
    assert "Okay, stopping here. Sleep well." not in said(events)
    assert events[-1].event == "end" and events[-1].data["completed"] is True


def test_stop_twice_ends_at_once(routine: Routine, plain: list[LogEvent]) -> None:
    t = first_count_time(plain, 6) + 0.3
    events = sim(routine, (t, "stop"), (t + 3, "stop"))
    assert of(events, "end")[0].t == pytest.approx(t + 3)


def test_no_after_a_stop_in_a_pause_stays_paused(routine: Routine, plain: list[LogEvent]) -> None:
    t = first_count_time(plain, 2)
    events = sim(routine, (t, "pause"), (t + 10, "stop"), (t + 13, "no"), (t + 60, "resume"))
    assert not [e for e in events if e.event in ("cue", "end") and t < e.t < t + 60]
    assert counts_in(stretch_spans(events)[0][1]) == list(range(1, 11))


def test_no_outside_a_stop_changes_nothing(routine: Routine, plain: list[LogEvent]) -> None:
    events = sim(routine, (first_count_time(plain, 2), "no"))
    assert [e for e in events if e.event != "command"] == plain


def test_back_after_a_misheard_next_returns_to_the_very_side(routine: Routine, plain: list[LogEvent]) -> None:
    right = of(plain, "stretch", id="thread-the-needle", side="left")[0]
    events = sim(routine, (right.t + 20, "skip"), (right.t + 24, "back"))
    spans = [(e.data["id"], e.data["side"]) for e, _ in stretch_spans(events)]
    i = spans.index(("thread-the-needle", "left"))
    assert spans[i: i + 3] == [("thread-the-needle", "left"), ("gentle-bridge", None), ("thread-the-needle", "left")]


def test_next_moves_to_the_next_side_at_once(routine: Routine, plain: list[LogEvent]) -> None:
    t = first_count_time(plain, 3) + 0.1
    events = sim(routine, (t, "next one"))
    spans = stretch_spans(events)
    assert counts_in(spans[0][1]) == [1, 2, 3]
    assert spans[1][0].data["side"] == "left" and spans[1][0].t == pytest.approx(t)
    assert counts_in(spans[1][1]) == list(range(1, 11))


def test_skip_in_a_repeat_as_comfortable_stretch_moves_to_the_next_stretch(routine: Routine,
                                                                          plain: list[LogEvent]) -> None:
    bridge = of(plain, "stretch", id="gentle-bridge")[0]
    events = sim(routine, (bridge.t + 5, "skip"))
    spans = stretch_spans(events)
    ids = [e.data["id"] for e, _ in spans]
    assert ids.count("gentle-bridge") == 1
    assert ids[ids.index("gentle-bridge") + 1] == "knees-together-sway"


def test_back_returns_to_the_previous_side(routine: Routine, plain: list[LogEvent]) -> None:
    left = of(plain, "stretch", id="knee-hugs", side="left")[0]
    events = sim(routine, (left.t + 20, "go back"))
    sides = [e.data["side"] for e, _ in stretch_spans(events) if e.data["id"] == "knee-hugs"]
    assert sides == ["right", "left", "right", "left", "both"]


def test_back_at_the_very_start_restarts_the_first_stretch(routine: Routine, plain: list[LogEvent]) -> None:
    t = first_count_time(plain, 2) + 0.1
    events = sim(routine, (t, "previous"))
    assert "This is the first stretch. Let's start it again." in said(events)
    assert [e.data["side"] for e, _ in stretch_spans(events)][:3] == ["right", "right", "left"]


def test_repeat_in_a_hold_respeaks_the_instruction_then_carries_on_counting(
        routine: Routine, plain: list[LogEvent]) -> None:
    t = first_count_time(plain, 3) + 0.1
    events = sim(routine, (t, "say that again"))
    first = stretch_spans(events)[0][1]
    assert counts_in(first) == list(range(1, 11))
    texts = [e.data["text"] for e in of(first, "say") if e.t >= t]
    assert texts[0] == "Stretch 1 of 8: Knee hugs."
    assert texts.index("Four") > texts.index("Working hard, squeeze your knee for a slow count of ten.")


def test_louder_and_quieter_change_volume_within_bounds(routine: Routine, plain: list[LogEvent]) -> None:
    t = first_count_time(plain, 2)
    events = sim(routine, *[(t + 0.1 * i, "louder") for i in range(6)], (t + 1, "softer"), (t + 1.1, "quieter"))
    volumes = [e.data["volume_db"] for e in of(events, "volume")]
    assert volumes == [3.0, 6.0, 9.0, 6.0, 3.0]
    assert max(volumes) == VOLUME_MAX_DB
    texts = said(events)
    assert texts.count("Louder.") == 3 and texts.count("That's as loud as I go.") == 3
    assert texts.count("Quieter.") == 2


def test_help_and_status_answer(routine: Routine, plain: list[LogEvent]) -> None:
    t = first_count_time(plain, 2)
    events = sim(routine, (t, "what can I say"), (t + 30, "where am I"))
    texts = said(events)
    assert any(x.startswith("You can say: next, back, repeat") for x in texts)
    i = texts.index("Stretch 1 of 8, Knee hugs.")
    assert texts[i + 1] == "Next, Thread the needle."
    assert texts[i + 2].startswith("About ") and texts[i + 2].endswith(" minutes left.")
    minutes = int(texts[i + 2].split()[1])
    assert 10 <= minutes <= 30


def test_start_begins_before_the_automatic_start(routine: Routine, plain: list[LogEvent]) -> None:
    auto = of(plain, "stretch")[0].t
    waiting = of(plain, "state", state="waiting")[0].t
    events = sim(routine, (waiting + 2, "I'm ready"))
    assert of(events, "stretch")[0].t == pytest.approx(waiting + 2)
    assert auto - waiting >= 19


def test_start_during_the_intro_cuts_it_short(routine: Routine) -> None:
    events = sim(routine, (3.0, "begin"))
    assert of(events, "stretch")[0].t == pytest.approx(3.0)


def test_words_that_are_no_command_change_nothing(routine: Routine, plain: list[LogEvent]) -> None:
    t = first_count_time(plain, 2)
    events = sim(routine, (t, "what a lovely evening"))
    commands = of(events, "command")
    assert commands[0].data == {"intent": "none", "text": "what a lovely evening"}
    assert [e for e in events if e.event != "command"] == plain


def test_resume_when_not_paused_and_pause_twice_are_harmless(routine: Routine, plain: list[LogEvent]) -> None:
    t = first_count_time(plain, 2)
    events = sim(routine, (t, "keep going"))
    assert [e for e in events if e.event != "command"] == plain
    events = sim(routine, (t, "pause"), (t + 5, "hold on"), (t + 10, "go on"))
    assert len(of(events, "state", state="paused")) == 1


def test_a_pause_left_for_twenty_minutes_ends_the_session(routine: Routine, plain: list[LogEvent]) -> None:
    t = first_count_time(plain, 2)
    events = sim(routine, (t, "wait"))
    end = events[-1]
    assert end.event == "end" and end.data["completed"] is False
    assert end.t == pytest.approx(t + 20 * 60)


def _bridge_question(plain: list[LogEvent]) -> float:
    return next(e.t for e in of(plain, "say") if e.data["text"].startswith("If you'd like to go again"))


def test_again_answers_the_go_again_question_at_once(routine: Routine, plain: list[LogEvent]) -> None:
    asked = _bridge_question(plain)
    events = sim(routine, (asked + 5, "again"))
    second = of(events, "stretch", id="gentle-bridge", repetition=2)[0]
    assert second.t == pytest.approx(asked + 5)
    assert second.t < of(plain, "stretch", id="gentle-bridge", repetition=2)[0].t


def test_next_answers_the_go_again_question_by_moving_on(routine: Routine, plain: list[LogEvent]) -> None:
    asked = _bridge_question(plain)
    events = sim(routine, (asked + 5, "next"))
    reps = [e.data["repetition"] for e in of(events, "stretch", id="gentle-bridge")]
    assert reps == [1]
    assert "Let's move on." in said(events)


def test_commands_before_begin_and_after_end_do_nothing(routine: Routine) -> None:
    state = initial_state(routine)
    state2, effects = step(state, Heard(0.0, None, "hello"))
    assert state2.phase == state.phase and all(e.__class__.__name__ == "Log" for e in effects)
    state3, effects = step(state, Begin(0.0))
    assert effects and state3.phase.value == "intro"
    assert state.phase.value == "idle"  # step never changes the state it was given


def test_slower_session_lasts_longer(routine: Routine, plain: list[LogEvent]) -> None:
    slow = simulate(routine, tempo=1.25)
    assert slow[-1].t > plain[-1].t * 1.15
    assert all(e.data["tempo"] == 1.25 for e in of(slow, "say"))


def test_an_unfinished_session_is_offered_and_continue_picks_up_there(routine: Routine) -> None:
    offer = Position(3, 1, 1)
    events = simulate(routine, [(40.0, "continue")], offer=offer)
    texts = said(events)
    assert "Last time, you stopped during Knees-together sway. Say continue to pick up from there, or say start to begin from the top." in texts
    first = of(events, "stretch")[0]  # the saved side (1: this stretch sways left, then right), not the first
    assert first.data["id"] == "knees-together-sway" and first.data["side"] == "right" and first.t == pytest.approx(40.0)


def test_start_ignores_the_offer_and_begins_from_the_top(routine: Routine) -> None:
    events = simulate(routine, [(40.0, "start")], offer=Position(5))
    assert of(events, "stretch")[0].data["id"] == "knee-hugs"


def test_an_offer_outside_the_routine_is_dropped(routine: Routine) -> None:
    events = simulate(routine, offer=Position(99))
    assert not any(t.startswith("Last time") for t in said(events))


# ---- found by the property tests (tests/test_properties.py): the smallest failing examples -----------

ONE_COMFORTABLE = """
name = "R"
intro = ["Hello."]
outro = ["Bye."]
[[stretches]]
name = "Bridge"
start = "Lie down."
steps = ["Lift."]
hold = { kind = "breaths", amount = 1 }
repeat = "comfortable"
"""

TWO_STRETCHES = """
name = "R"
intro = ["Hello."]
outro = ["Bye."]
[[stretches]]
name = "First"
start = "Lie down."
steps = ["Lift."]
hold = { kind = "count", amount = 3 }
[[stretches]]
name = "Second"
start = "Lie down."
steps = ["Lift."]
hold = { kind = "count", amount = 3 }
"""


def rounds(events: Sequence[LogEvent]) -> list[tuple[int, int]]:
    return [(e.data["index"], e.data["repetition"]) for e in of(events, "stretch")]


def test_back_after_a_next_into_the_outro_returns_to_the_very_round() -> None:
    # "next" in round 2 of the last stretch went to the outro; "back" then went to round 1.
    routine = parse_routine(ONE_COMFORTABLE, Path("r.toml"))
    events = simulate(routine, [(61.0, "next"), (62.0, "back")])
    assert rounds(events)[:3] == [(1, 1), (1, 2), (1, 2)]


def test_back_in_the_outro_after_an_earlier_next_goes_to_the_last_stretch() -> None:
    # A "next" into the last stretch was still remembered when that stretch had ended by itself, so
    # "back" in the outro went to the stretch before it (where the "next" had been heard).
    routine = parse_routine(TWO_STRETCHES, Path("r.toml"))
    skipped = simulate(routine, [(30.0, "next")])  # in the first stretch's instructions
    outro_at = of(skipped, "say", text="Bye.")[0].t
    events = simulate(routine, [(30.0, "next"), (outro_at + 0.3, "back")])
    assert rounds(events) == [(1, 1), (2, 1), (2, 1)]


@pytest.mark.parametrize("words", ["slower", "faster"])
@pytest.mark.parametrize("how", ["pause", "stop"])
def test_a_tempo_change_in_a_paused_hold_does_not_end_the_session(words: str, how: str) -> None:
    # "pause" (or a "stop" being undone by the tempo command) then "slower" in a hold: the tempo change
    # rescheduled the next count over the pause's own deadline, so the session ended at once as
    # "paused too long".
    routine = parse_routine(TWO_STRETCHES, Path("r.toml"))
    first_count = of(simulate(routine), "cue")[0].t
    events = simulate(routine, [(first_count + 0.5, how), (first_count + 2, words), (first_count + 30, "resume")])
    assert not of(events, "state", state="paused_too_long")
    assert events[-1].data == {"completed": True, "stretches_done": 2}
    counts = of(events, "cue")
    assert [e.data["n"] for e in counts] == [1, 2, 3, 1, 2, 3]
    assert counts[1].t > first_count + 30


def test_how_long_counts_down_through_a_long_hold_and_the_outro(routine: Routine, plain: list[LogEvent]) -> None:
    # The estimate counted every position from its beginning: all through the last side's 20 breaths,
    # and in the outro too, "how long" said the whole last side was still to come.
    last_side = of(plain, "stretch")[-1]
    breaths = [e for e in of(plain, "cue", kind="breath", phase="in") if e.t > last_side.t]
    outro = of(plain, "state", state="outro")[0].t
    asked = [breaths[0].t + 0.1, breaths[-1].t + 0.1, outro + 0.1]
    events = sim(routine, *((t, "how long") for t in asked))
    answers = [x for x in said(events) if x.startswith("About ")]
    assert answers[0] in ("About 3 minutes left.", "About 4 minutes left.")
    assert answers[1:] == ["About a minute left.", "About a minute left."]


def _feed(routine: Routine, *events: Event) -> tuple[State, list[Effect]]:
    state, effects = initial_state(routine), []
    for event in events:
        state, out = step(state, event)
        effects += out
    return state, effects


def _logged(effects: list[Effect], event: str) -> list[dict[str, object]]:
    return [e.data for e in effects if isinstance(e, Log) and e.event == event]


def test_a_lost_speaker_pauses_without_a_command_and_its_return_carries_on(routine: Routine) -> None:
    """Device loss is its own event: the log shows no "pause" nobody said, and the return resumes."""
    lost, effects = _feed(routine, Begin(0.0), Heard(1.0, Intent.START, "start"), SpeakerLost(5.0))
    assert lost.paused and _logged(effects, "device") == [{"device": "speaker", "state": "lost"}]
    assert [c["intent"] for c in _logged(effects, "command")] == ["start"]
    assert {"state": "waiting_for_speaker"} in _logged(effects, "state")
    assert {"state": "paused"} not in _logged(effects, "state")
    back, effects = step(lost, SpeakerBack(30.0))
    assert not back.paused
    assert any(isinstance(e, Say) for e in effects)  # it says where it is again


def test_a_pause_the_person_asked_for_outlasts_the_speakers_return(routine: Routine) -> None:
    state, _ = _feed(routine, Begin(0.0), Heard(1.0, Intent.START, "start"), Heard(3.0, Intent.PAUSE, "pause"),
                     SpeakerLost(5.0), SpeakerBack(9.0))
    assert state.paused
    # and a speaker that goes while it is already paused for the person does not take over that pause
    state, _ = step(state, Heard(12.0, Intent.RESUME, "resume"))
    assert not state.paused
