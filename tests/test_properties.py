"""Property-based tests (Hypothesis): random valid routines and random spoken commands through the whole
session engine, and random files through `check`.

Reproducible in CI: the "properties" profile derandomizes and keeps no example database, so every run
tries the same examples (set HYPOTHESIS_PROFILE=explore for a fresh, randomized and longer search).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import io
import itertools
import math
import os
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from skill.cli import main
from skill.hearing.commands import _FILLERS, Intent, all_phrases, parse
from skill.hearing.commands import PHRASES as COMMAND_PHRASES
from skill.session.controller import (
    PAUSE_LIMIT_SECONDS,
    STOP_GRACE_SECONDS,
    Phase,
    State,
    initial_state,
    seconds_left,
    step,
)
from skill.session.effects import Begin, Event, Heard
from skill.session.loop import MAX_SESSION_SECONDS, EventLog, SimulatedSpeaker, VirtualInbox, carry_out, simulate
from skill.routine.pacer import TEMPO_MAX
from skill.routine.phrases import default_phrases
from skill.routine.definition import HOLD_LIMITS, Routine, parse_routine
from skill.routine.script import Position, estimate_speech_seconds, positions

settings.register_profile("properties", derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("explore", database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "properties")
BASE = settings.get_profile(PROFILE if PROFILE in ("properties", "explore") else "properties")
SCALE = 10 if PROFILE == "explore" else 1
"""The explore profile tries ten times as many examples (about ten minutes)."""


# ---- TOML text from Python values (the stdlib reads TOML but does not write it) ---------------------


def toml_string(text: str) -> str:
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_document(table: dict[str, Any]) -> str:
    """One `key = value` line per top-level key (tables and arrays of tables written inline)."""
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in table.items())


# ---- strategies: valid routines -------------------------------------------------------------------

# Letters, digits, spaces and the punctuation people type, braces and a few non-ASCII letters included:
# a step is said as it is written, never used as a template.
line_text = st.text(alphabet=string.ascii_letters + string.digits + " .,;:'!?-(){}éß你", min_size=1, max_size=30
                    ).filter(lambda s: s.strip() != "")
lines = st.lists(line_text, min_size=1, max_size=3)

holds = st.one_of(
    st.builds(lambda n, pace: {"kind": "count", "amount": n, **({"pace": pace} if pace else {})},
              st.integers(1, HOLD_LIMITS["count"]), st.sampled_from([None, "slow", "normal"])),
    st.builds(lambda n: {"kind": "breaths", "amount": n}, st.integers(1, HOLD_LIMITS["breaths"])),
    st.builds(lambda n: {"kind": "seconds", "amount": n},
              st.one_of(st.integers(1, HOLD_LIMITS["seconds"]),
                        st.floats(min_value=0.001, max_value=HOLD_LIMITS["seconds"]))),
)
# Most holds short, so sessions stay short; the full range still comes up.
short_holds = st.one_of(
    holds.filter(lambda h: h["amount"] <= 12), holds.filter(lambda h: h["amount"] <= 12), holds)


def optional(key: str, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), strategy.map(lambda v: {key: v}))


# Built once: strategies made inside a composite on every draw are slow to validate.
SIDE_NAMES = st.sampled_from(["right", "left", "both"])
SIDE_EXTRAS = st.tuples(optional("steps", st.lists(line_text, max_size=2)), optional("tip", line_text),
                        optional("release", line_text))
STRETCH_EXTRAS = st.tuples(
    optional("steps", st.lists(line_text, max_size=3)), optional("again", st.lists(line_text, max_size=2)),
    optional("tip", line_text), optional("release", line_text),
    optional("repeat", st.one_of(st.integers(1, 3), st.just("comfortable"))))


@st.composite
def sides(draw: st.DrawFn, hold_needed: bool) -> dict[str, Any]:
    side: dict[str, Any] = {"side": draw(SIDE_NAMES)}
    for extra in draw(SIDE_EXTRAS):
        side |= extra
    if hold_needed or draw(st.booleans()):
        side["hold"] = draw(short_holds)
    return side


SIDES = {True: sides(hold_needed=True), False: sides(hold_needed=False)}


@st.composite
def stretches(draw: st.DrawFn, index: int) -> dict[str, Any]:
    name = draw(line_text)
    stretch: dict[str, Any] = {"name": name}
    if draw(st.booleans()):
        stretch["id"] = f"s{index}"
    else:
        stretch["name"] = f"{name} {index}x"  # a slug no other stretch has
    stretch["start"] = draw(line_text)
    for extra in draw(STRETCH_EXTRAS):
        stretch |= extra
    has_hold = draw(st.booleans())
    if has_hold:
        stretch["hold"] = draw(short_holds)
    n_sides = draw(st.integers(0 if has_hold else 1, 3))
    if n_sides:
        stretch["sides"] = [draw(SIDES[not has_hold]) for _ in range(n_sides)]
    if not stretch.get("steps") and not any(s.get("steps") for s in stretch.get("sides", [])):
        stretch["steps"] = [draw(line_text)]
    return stretch


STRETCHES = [stretches(i) for i in range(4)]


def _placeholders(template: str) -> list[str]:
    return sorted({name for _, name, _, _ in string.Formatter().parse(template) if name})


PHRASE_KEYS = st.lists(st.sampled_from(sorted(default_phrases())), max_size=6, unique=True)
PHRASE_PLAIN = st.text(alphabet=string.ascii_letters + " .,!'", min_size=1, max_size=12)


def _phrase_value(key: str) -> st.SearchStrategy[Any]:
    default = default_phrases()[key]
    if isinstance(default, list):
        return st.lists(line_text, min_size=len(default), max_size=len(default) + 3)
    pieces = st.one_of(PHRASE_PLAIN, st.just("{{"), st.just("}}"),
                       *[st.just("{" + p + "}") for p in _placeholders(default)])
    return st.lists(pieces, min_size=1, max_size=5).map("".join).filter(lambda text: text.strip() != "")


PHRASE_VALUES = {key: _phrase_value(key) for key in default_phrases()}


@st.composite
def phrase_overrides(draw: st.DrawFn) -> dict[str, Any]:
    return {key: draw(PHRASE_VALUES[key]) for key in draw(PHRASE_KEYS)}


ROUTINE_EXTRAS = st.tuples(optional("id", st.just("generated")), optional("repeats", st.integers(1, 20)),
                           optional("phrases", phrase_overrides()))


@st.composite
def routine_tables(draw: st.DrawFn) -> dict[str, Any]:
    table: dict[str, Any] = {"name": draw(line_text), "intro": draw(lines), "outro": draw(lines)}
    for extra in draw(ROUTINE_EXTRAS):
        table |= extra
    table["stretches"] = [draw(STRETCHES[i]) for i in range(draw(st.integers(1, 4)))]
    return table


def routine_from(table: dict[str, Any]) -> Routine:
    return parse_routine(toml_document(table), Path("generated.toml"))


def plain_length(routine: Routine) -> float:
    """The estimated length of an uninterrupted session (what the remaining-time answer starts from)."""
    return sum(estimate_speech_seconds(t) for t in routine.intro) + seconds_left(initial_state(routine))


@st.composite
def routines(draw: st.DrawFn) -> Routine:
    routine = routine_from(draw(routine_tables()))
    assume(plain_length(routine) < 3600)  # so that any command sequence still ends well inside 6 hours
    return routine


# ---- strategies: what is heard ----------------------------------------------------------------------

PHRASES = all_phrases()
FILLERS = sorted(_FILLERS)


@st.composite
def utterances(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 6:
        phrase = draw(st.sampled_from(PHRASES))
        if draw(st.booleans()):
            phrase = f"{draw(st.sampled_from(FILLERS))} {phrase}"
        if draw(st.booleans()):
            phrase = phrase.capitalize() + draw(st.sampled_from(["", ".", "!", "?", ","]))
        return phrase
    if kind <= 8:
        return " ".join(draw(st.lists(st.sampled_from([*PHRASES, *FILLERS, "banana", "the", "nope"]),
                                      min_size=1, max_size=3)))
    return draw(st.text(max_size=20))


INTENT_WORDS = st.sampled_from(list(Intent)).map(lambda intent: COMMAND_PHRASES[intent][0])
TEMPOS = st.one_of(st.just(1.0), st.floats(0.5, 2.0))
BURST_FIRST = st.sampled_from(["pause", "stop", "repeat", "next", "back", "slower", "again"])


@st.composite
def sessions(draw: st.DrawFn) -> dict[str, Any]:
    """A routine, and commands at random times: anywhere in its length, or just after something happens
    in an uninterrupted session (a stretch begins, a cue, a line, a change of phase), so that commands
    land in every phase. A "next" is often followed by a "back"; a "pause" or "stop" by more words."""
    routine = draw(routines())
    tempo = draw(TEMPOS)
    length = plain_length(routine) * 1.2 * tempo + 30
    anchors = [e.t for e in simulate(routine, tempo=tempo)]
    when = st.one_of(st.floats(0, length), st.tuples(st.sampled_from(anchors), st.floats(0, 2)).map(sum))
    commands: list[tuple[float, str]] = []
    for _ in range(draw(st.integers(0, 14))):
        t = draw(when)
        pattern = draw(st.integers(0, 5))
        if pattern == 0:
            commands += [(t, "next"), (t + draw(st.floats(0, 4)), draw(st.sampled_from(["back", "go back"])))]
        elif pattern == 1:
            # a few words close together: what comes right after a pause, a stop, a repeat...
            commands.append((t, draw(BURST_FIRST)))
            for _ in range(draw(st.integers(1, 3))):
                t += draw(st.floats(0, 5))
                commands.append((t, draw(st.one_of(INTENT_WORDS, utterances()))))
        else:
            commands.append((t, draw(utterances())))
    everywhere = positions(routine)
    start_at = draw(st.one_of(st.none(), st.none(), st.sampled_from(everywhere)))
    offer = draw(st.one_of(st.none(), st.none(), st.sampled_from(everywhere),
                           st.builds(Position, st.integers(-2, 6), st.integers(-1, 3))))
    return {"routine": routine, "commands": sorted(commands), "tempo": tempo, "start_at": start_at,
            "offer": offer}


# ---- a session with every state on the way -------------------------------------------------------


def trace(session: dict[str, Any]) -> tuple[State, list[tuple[Event, State]]]:
    """What `simulate` (engine.run) does, keeping every state: the one after Begin, and (event, state
    after it) for every step after that."""
    inbox = VirtualInbox()
    log = EventLog()
    speaker = SimulatedSpeaker(inbox, log, estimate_speech_seconds)
    for t, text in session["commands"]:
        inbox.at(t, lambda t=t, text=text: Heard(t, parse(text), text))
    state = initial_state(session["routine"], tempo=session["tempo"], start_at=session["start_at"],
                          offer=session["offer"])

    def apply(state: State, event: Event) -> State:
        state, effects = step(state, event)
        for effect in effects:
            carry_out(effect, state.now, speaker, log)
        return state

    first = state = apply(state, Begin(inbox.clock.now()))
    steps: list[tuple[Event, State]] = []
    while not state.ended:
        event = inbox.next_event(state.wake_at)
        assert event is not None, "the session stopped before it ended"
        state = apply(state, event)
        steps.append((event, state))
    return first, steps


def pairs(first: State, steps: list[tuple[Event, State]]) -> list[tuple[State, Event, State]]:
    """(state before, event, state after) for every step."""
    out = []
    before = first
    for event, after in steps:
        out.append((before, event, after))
        before = after
    return out


def key(pos: Position) -> tuple[int, int, int]:
    """The order positions come in: stretch, then round, then side."""
    return pos.stretch, pos.repetition, pos.side


session_settings = settings(BASE, max_examples=100 * SCALE)


# ---- 1. random routines and commands: the session never raises, always ends, never loses its place -


@session_settings
@given(sessions())
def test_any_session_runs_to_an_end_within_the_engines_limit(session: dict[str, Any]) -> None:
    events = simulate(session["routine"], session["commands"], tempo=session["tempo"],
                      start_at=session["start_at"], offer=session["offer"])
    assert events[-1].event == "end"
    assert sum(e.event == "end" for e in events) == 1
    assert events[-1].t <= MAX_SESSION_SECONDS
    times = [e.t for e in events]
    assert times == sorted(times)
    assert len(events[-1].data) == 2 and isinstance(events[-1].data["completed"], bool)


@session_settings
@given(sessions())
def test_back_right_after_next_returns_to_the_very_position(session: dict[str, Any]) -> None:
    """The position is in the log's `stretch` events only as index, side name and round (two sides may
    share a name), so this reads the controller's own states."""
    first, steps = trace(session)
    heard = [(before, event, after) for before, event, after in pairs(first, steps) if isinstance(event, Heard)]
    for (before_next, next_, after_next), (before_back, back, after_back) in itertools.pairwise(heard):
        if next_.intent != Intent.NEXT or back.intent != Intent.BACK:
            continue
        if before_next.phase in (Phase.IDLE, Phase.INTRO, Phase.WAITING) or after_next.ended:
            continue
        if before_back.pos != after_next.pos or before_back.ended:
            continue  # the session moved on by itself between the two: not "right after"
        note(f"next at {next_.now:.2f} in {before_next.phase} at {before_next.pos} -> {after_next.pos} "
             f"({after_next.phase}); back at {back.now:.2f} in {before_back.phase} -> {after_back.pos}")
        assert after_back.pos == before_next.pos
        assert after_back.phase in (Phase.INSTRUCT, Phase.HOLD)


@session_settings
@given(sessions())
def test_back_goes_back_at_most_to_the_start_of_the_previous_stretch(session: dict[str, Any]) -> None:
    """Any "back" lands in the current stretch or at the start of the one before; in the outro, in the
    last stretch (or, right after a "next" into the outro, where that "next" was heard)."""
    first, steps = trace(session)
    routine = session["routine"]
    last_next: tuple[State, State] | None = None
    for before, event, after in pairs(first, steps):
        if not isinstance(event, Heard) or after.ended:
            continue
        in_routine = before.phase not in (Phase.IDLE, Phase.INTRO, Phase.WAITING)
        if event.intent == Intent.BACK and in_routine:
            if last_next is not None and last_next[1].pos == before.pos and after.pos == last_next[0].pos:
                continue  # undoing the "next" just before
            pos = before.pos
            if before.phase == Phase.OUTRO:
                floor = Position(len(routine.stretches) - 1)
            elif pos.side == 0 and pos.repetition == 1:
                floor = Position(max(0, pos.stretch - 1))
            else:
                floor = Position(pos.stretch)
            note(f"back at {event.now:.2f} in {before.phase} at {pos} -> {after.pos}")
            assert key(floor) <= key(after.pos) <= key(pos)
        last_next = (before, after) if event.intent == Intent.NEXT and in_routine else None


@session_settings
@given(sessions())
def test_a_session_ends_only_when_finished_stopped_or_left_paused_too_long(session: dict[str, Any]) -> None:
    first, steps = trace(session)
    stop_heard_at: float | None = None
    for before, event, after in pairs(first, steps):
        if after.stopping and not before.stopping:
            stop_heard_at = event.now
        if not after.ended:
            continue
        note(f"ended at {event.now:.2f} by {event} from {before.phase}, paused at {before.paused_at}, "
             f"stopping {before.stopping}")
        if after.completed:
            assert before.phase == Phase.OUTRO
        elif before.stopping:
            assert stop_heard_at is not None
            assert (isinstance(event, Heard) and event.intent == Intent.STOP) \
                or event.now >= stop_heard_at + STOP_GRACE_SECONDS - 1e-9
        else:
            assert before.paused_at is not None
            assert event.now - before.paused_at >= PAUSE_LIMIT_SECONDS - 1e-9


# ---- 2. the remaining time never grows, but for the commands that add time ---------------------------

def estimates() -> Callable[[State], float]:
    """seconds_left, remembered for the states of one trace (it is slow to work out for every step)."""
    cache: dict[tuple[Any, ...], float] = {}

    def left(state: State) -> float:
        # what the estimate depends on (the states stay alive in the trace, so id() is safe here)
        at = (state.pos, state.tempo, state.phase, state.lines, state.line, id(state.cues), state.cue,
              state.hold_suspended_at is not None)
        if at not in cache:
            cache[at] = seconds_left(state)
        return cache[at]

    return left


GROWS = {Intent.SLOWER, Intent.BACK, Intent.REPEAT, Intent.START, Intent.RESUME}
"""Commands after which the remaining-time estimate may be longer than before:
slower: every line, pause and hold to come is stretched by the new tempo;
back: an earlier position is to come again;
repeat: the instruction (or the outro) is said again from its first line;
start (in the intro only): starts from the top when the session was set to begin further on;
resume/continue (in the intro, with an offer only): picks up at the offered stretch.
Not on the list: "pause" freezes the estimate (it counts lines and cues still to come, not the clock),
"no"/"resume" after a "stop" keep the place, "next" only ever moves on."""


@session_settings
@given(sessions())
def test_remaining_time_never_grows_except_on_slower_back_repeat_start_continue(session: dict[str, Any]) -> None:
    first, steps = trace(session)
    left = estimates()
    for before, event, after in pairs(first, steps):
        if after.ended:
            continue
        left_before, left_after = left(before), left(after)
        if left_after <= left_before + 1e-6:
            continue
        note(f"{left_before:.1f} -> {left_after:.1f} s left on {event} in {before.phase} at {before.pos} "
             f"-> {after.phase} at {after.pos}")
        assert isinstance(event, Heard) and event.intent in GROWS
        if event.intent == Intent.START:
            assert before.phase in (Phase.INTRO, Phase.WAITING) and after.pos == Position(0)
        if event.intent == Intent.RESUME:
            assert before.phase in (Phase.INTRO, Phase.WAITING) and before.offer is not None



FLAT_LIMIT = 25.0
"""The longest the estimate may stand still in a session nobody talks to: one line and its pause after a
chime, the gap between two cues, or the "go again?" question and its wait (at the slowest tempo)."""


@session_settings
@given(sessions().map(lambda session: {**session, "commands": []}))
def test_remaining_time_keeps_up_with_the_clock_when_nobody_speaks(session: dict[str, Any]) -> None:
    """The "how long" answer is worth asking in a long hold and in the outro too: it never stands still
    for more than one line or cue, and in the outro it is no more than what is left."""
    _, steps = trace(session)
    end = steps[-1][1].now
    changed_at, last = None, None
    estimate = estimates()
    for _, state in steps:
        if state.ended or state.phase in (Phase.IDLE, Phase.INTRO, Phase.WAITING):
            continue
        left = estimate(state)
        if left != last:
            changed_at, last = state.now, left
        assert changed_at is not None
        note(f"{left:.1f} s left at {state.now:.1f} in {state.phase} at {state.pos}, same since {changed_at:.1f}")
        assert state.now - changed_at <= FLAT_LIMIT
        if state.phase == Phase.OUTRO:  # (the estimate moves on line by line)
            assert left <= end - changed_at + 0.5


# ---- 3. check: any file gives "ok" or one line naming what to fix, never a traceback -------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("check")


def check(folder: Path, content: bytes) -> tuple[int, str, str]:
    path = folder / "routine.toml"
    path.write_bytes(content)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", str(path)])
    return code, out.getvalue(), err.getvalue()


def assert_ok_or_one_line(folder: Path, content: bytes) -> tuple[int, str]:
    code, out, err = check(folder, content)
    note(f"exit {code}, stdout {out!r}, stderr {err!r}")
    assert code in (0, 2)
    if code == 0:
        assert err == ""
        assert out.count("\n") == 1 and ": ok: " in out
        return code, out
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err.startswith(f"bedtime-stretch: {folder / 'routine.toml'}: ")
    return code, err


check_settings = settings(BASE, max_examples=150 * SCALE,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])


@check_settings
@given(content=st.binary(max_size=300))
def test_check_on_random_bytes(folder: Path, content: bytes) -> None:
    assert_ok_or_one_line(folder, content)


toml_keys = st.one_of(st.sampled_from(["name", "intro", "outro", "stretches", "hold", "kind", "amount", "phrases",
                                       "sides", "repeat", "repeats", "id", "steps"]),
                      st.text(max_size=8))
toml_scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.booleans(), st.text(max_size=20),
    st.dates(), st.times(), st.datetimes(),
)
toml_values = st.recursive(toml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(toml_keys, inner, max_size=4)), max_leaves=12)


@check_settings
@given(table=st.dictionaries(toml_keys, toml_values, max_size=6))
def test_check_on_random_toml_documents(folder: Path, table: dict[str, Any]) -> None:
    assert_ok_or_one_line(folder, toml_document(table).encode())


@check_settings
@given(table=routine_tables())
def test_check_passes_every_generated_routine(folder: Path, table: dict[str, Any]) -> None:
    """...but one a session could not finish: at the slowest pace (twice as long) past MAX_SESSION_SECONDS."""
    code, message = assert_ok_or_one_line(folder, toml_document(table).encode())
    if code != 0:
        assert "would run past 6 hours at the slowest pace" in message
        assert plain_length(routine_from(table)) * TEMPO_MAX > MAX_SESSION_SECONDS / 2  # truly that long


# A wrong value for any field: another type, out of range, empty, a line break, a stray brace.
wrong_values = st.one_of(
    st.sampled_from([0, -1, 1.5, 10**6, float("inf"), float("nan"), True, "", "   ", "x", "{", "a\nb", [], [1],
                     [""], {}, {"kind": "count"}, "comfortable", 1500]),
    st.dates(), toml_scalars,
)


def leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [path] if path else []
    if isinstance(value, dict):
        for k, v in value.items():
            paths += leaf_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            paths += leaf_paths(v, (*path, i))
    return paths


def field_name(path: tuple[Any, ...]) -> str:
    """A path as routine.py names it: stretches[1].sides[0].hold.amount."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def mutated(table: dict[str, Any], path: tuple[Any, ...], change: Callable[[Any, Any], None]) -> dict[str, Any]:
    table = copy.deepcopy(table)
    parent = table
    for part in path[:-1]:
        parent = parent[part]
    change(parent, path[-1])
    return table


@st.composite
def near_valid_routines(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    table = draw(routine_tables())
    path = draw(st.sampled_from(leaf_paths(table)))
    how = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
    if how == "replace":
        value = draw(wrong_values)

        def change(parent: Any, k: Any) -> None:
            parent[k] = value
    elif how == "delete":
        def change(parent: Any, k: Any) -> None:
            del parent[k]
    else:
        # a key added to the table at `path` (or its parent, for a field that is no table)
        extra = draw(st.one_of(st.sampled_from(["colour", "Name", "a\nb", "x y", ""]), st.text(max_size=6)))
        holder = path
        while not isinstance(_at(table, holder), dict):
            holder = holder[:-1]
        assume(extra not in _at(table, holder))
        changed = copy.deepcopy(table)
        _at(changed, holder)[extra] = 1
        return changed, field_name(holder)
    return mutated(table, path, change), field_name(path)


def _at(table: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        table = table[part]
    return table


@check_settings
@given(case=near_valid_routines())
def test_check_on_routines_with_one_field_wrong_names_that_field(folder: Path, case: tuple[dict[str, Any], str]
                                                                  ) -> None:
    table, field = case
    code, line = assert_ok_or_one_line(folder, toml_document(table).encode())
    if code == 2 and "not valid TOML" not in line:
        # The first field found wrong is the changed one, something inside it, or the table holding it.
        named = line.split(": ", 2)[2].split(": ")[0]
        note(f"changed {field}, message names {named}")
        assert field.startswith(named) or named.startswith(field) or named.split(".")[0] == field.split(".")[0]

