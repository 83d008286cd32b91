"""The dialogue state machine: `step(state, event) -> (state, effects)`, pure.

It never sleeps, reads a clock or touches audio. Time comes in with each event; what it wants done goes
out as effects; `State.wake_at` says when it next wants a Tick. Speech is one line at a time: the
controller says a line, waits for the speaker's SpeechDone, waits the line's pause, then says the next.
Counts and breath prompts are not waited for: they go out on their scheduled times.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from skill.routine import script
from skill.hearing.commands import Intent
from skill.session.effects import (
    VOLUME_MAX_DB,
    VOLUME_MIN_DB,
    Begin,
    Chime,
    Cut,
    Effect,
    Event,
    Heard,
    Log,
    Say,
    SpeechDone,
    Tick,
    Volume,
)
from skill.routine.pacer import Cue, change_tempo, hold_seconds, schedule
from skill.routine.phrases import Phrases
from skill.routine.definition import Routine
from skill.routine.script import Line, Position

AUTO_START_SECONDS = 20.0
"""With no "start", the routine begins by itself after this long (so a session without a mic works)."""
ASK_WAIT_SECONDS = 8.0
"""How long the "go again?" question waits for an answer."""
STOP_GRACE_SECONDS = 8.0
"""After "stop", the guide goes silent and says it is stopping; it ends this long after unless the person
says "no", "resume" or "keep going" (a misheard "stop" must not cost the session)."""
PAUSE_LIMIT_SECONDS = 20 * 60.0
"""A pause this long ends the session: the person has most likely fallen asleep."""
RESUME_LEAD_SECONDS = 1.5
"""After "resume" in a hold, room for the short reply before the next cue."""
VOLUME_STEP_DB = 3.0


class Phase(StrEnum):
    IDLE = "idle"
    INTRO = "intro"
    WAITING = "waiting"
    INSTRUCT = "instruct"
    HOLD = "hold"
    RELEASE = "release"
    ASK = "ask"
    OUTRO = "outro"
    ENDED = "ended"


SPEAKING = frozenset({Phase.INTRO, Phase.INSTRUCT, Phase.RELEASE, Phase.ASK, Phase.OUTRO})


@dataclass(frozen=True)
class State:
    routine: Routine
    phrases: Phrases
    phase: Phase = Phase.IDLE
    pos: Position = Position(0)  # noqa: RUF009 (a frozen value)
    now: float = 0.0
    # speaking: the lines of this phase, the one being said (or next), the seq awaited
    lines: tuple[Line, ...] = ()
    line: int = 0
    awaiting: int | None = None
    deadline: float | None = None
    # holding: the cue schedule, the next cue, the scheduled time of the previous cue
    cues: tuple[Cue, ...] = ()
    cue: int = 0
    last_cue_at: float = 0.0
    hold_suspended_at: float | None = None
    """Set while a hold waits for "repeat" to re-speak the instruction."""
    paused_at: float | None = None
    stopping: bool = False
    """A "stop" was heard: silent, ending at `deadline` unless undone."""
    paused_before_stop: bool = False
    came_from: Position | None = None
    """Where the last "next" was heard: "back" right after it returns exactly there."""
    tempo: float = 1.0
    volume_db: float = 0.0
    seq: int = 0
    stretches_done: frozenset[int] = frozenset()
    completed: bool = False
    offer: Position | None = None
    """Where an unfinished earlier session stopped: "continue" before the start picks up there."""

    @property
    def wake_at(self) -> float | None:
        """When the controller next wants a Tick (None: only other events)."""
        return None if self.phase in (Phase.ENDED, Phase.IDLE) else self.deadline

    @property
    def ended(self) -> bool:
        return self.phase == Phase.ENDED

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


def initial_state(routine: Routine, tempo: float = 1.0, volume_db: float = 0.0,
                  start_at: Position | None = None, offer: Position | None = None) -> State:
    """A session about to begin; `offer` is a saved place the person may choose to continue from."""
    if offer is not None and not _valid(routine, offer):
        offer = None
    return State(routine=routine, phrases=Phrases(routine.phrases), tempo=tempo, volume_db=volume_db,
                 pos=start_at or Position(0), offer=offer)


def _valid(routine: Routine, pos: Position) -> bool:
    if not 0 <= pos.stretch < len(routine.stretches):
        return False
    stretch = routine.stretches[pos.stretch]
    rounds = routine.repeats if stretch.repeat == "comfortable" else stretch.repeat
    return 0 <= pos.side < len(stretch.sides) and 1 <= pos.repetition <= rounds


def intro_lines(state: State) -> tuple[Line, ...]:
    lines = [Line(t) for t in state.routine.intro]
    if state.offer is not None:
        name = state.routine.stretches[state.offer.stretch].name
        lines.append(Line(state.phrases.say("resume_offer", name=name)))
    return tuple(lines)


class _Step:
    """One step's working copy of the state and the effects it produces."""

    def __init__(self, state: State, now: float):
        self.s = replace(state, now=now)
        self.effects: list[Effect] = []

    # ---- speaking ---------------------------------------------------------------------------------

    def say(self, text: str) -> int:
        seq = self.s.seq + 1
        self.s = replace(self.s, seq=seq)
        self.effects.append(Say(seq, text, self.s.tempo))
        return seq

    def reply(self, key: str, **values: object) -> None:
        self.say(self.s.phrases.say(key, **values))

    def chime(self) -> None:
        seq = self.s.seq + 1
        self.s = replace(self.s, seq=seq)
        self.effects.append(Chime(seq))

    def log(self, event: str, **data: object) -> None:
        self.effects.append(Log(event, dict(data)))

    def set_phase(self, phase: Phase) -> None:
        if phase != self.s.phase:
            self.log("state", state=phase.value)
        self.s = replace(self.s, phase=phase)

    def speak_lines(self, phase: Phase, lines: tuple[Line, ...], start: int = 0) -> None:
        self.set_phase(phase)
        self.s = replace(self.s, lines=lines, line=start, deadline=None)
        self._say_current_line()

    def _say_current_line(self) -> None:
        seq = self.say(self.s.lines[self.s.line].text)
        self.s = replace(self.s, awaiting=seq, deadline=None)

    def speech_done(self, seq: int) -> None:
        if self.s.awaiting is None or seq < self.s.awaiting or self.s.paused:
            return
        pause = self.s.lines[self.s.line].pause_after * self.s.tempo
        if self.s.phase == Phase.ASK:
            pause = ASK_WAIT_SECONDS
        self.s = replace(self.s, awaiting=None, deadline=self.s.now + pause)

    def line_pause_over(self) -> None:
        if self.s.line + 1 < len(self.s.lines):
            self.s = replace(self.s, line=self.s.line + 1)
            self._say_current_line()
        else:
            self.s = replace(self.s, deadline=None)
            self.lines_finished()

    def lines_finished(self) -> None:
        phase = self.s.phase
        if phase == Phase.INTRO:
            self.set_phase(Phase.WAITING)
            self.s = replace(self.s, deadline=self.s.now + AUTO_START_SECONDS)
        elif phase == Phase.INSTRUCT:
            self.start_or_continue_hold()
        elif phase == Phase.RELEASE:
            self.after_release()
        elif phase == Phase.ASK:
            self.ask_unanswered()
        elif phase == Phase.OUTRO:
            self.end(completed=True)

    # ---- the routine ------------------------------------------------------------------------------

    def begin_routine(self) -> None:
        self.reply("begin")
        self.enter(self.s.pos)

    def enter(self, pos: Position, chime: bool | None = None) -> None:
        """Start a position: announce it, then speak its lines (then its hold)."""
        routine = self.s.routine
        stretch = routine.stretches[pos.stretch]
        side = stretch.sides[pos.side].side or None
        self.s = replace(self.s, pos=pos, cues=(), cue=0, hold_suspended_at=None, came_from=None)
        self.log("stretch", id=stretch.id, index=pos.stretch + 1, name=stretch.name, side=side,
                 repetition=pos.repetition)
        if chime if chime is not None else (pos.side == 0 and pos.repetition == 1):
            self.chime()
        self.speak_lines(Phase.INSTRUCT, script.position_lines(routine, self.s.phrases, pos))

    def start_or_continue_hold(self) -> None:
        self.set_phase(Phase.HOLD)
        if self.s.hold_suspended_at is not None and self.s.cues:
            shift = self.s.now - self.s.hold_suspended_at + RESUME_LEAD_SECONDS
            self.s = replace(self.s, hold_suspended_at=None, last_cue_at=self.s.last_cue_at + shift)
        else:
            side = self.s.routine.stretches[self.s.pos.stretch].sides[self.s.pos.side]
            self.s = replace(self.s, cues=schedule(side.hold, self.s.phrases), cue=0, last_cue_at=self.s.now)
        self.schedule_next_cue()

    def schedule_next_cue(self) -> None:
        cue = self.s.cues[self.s.cue]
        due = max(self.s.now, self.s.last_cue_at + cue.gap * self.s.tempo)
        self.s = replace(self.s, deadline=due)

    def cue_due(self) -> None:
        cue = self.s.cues[self.s.cue]
        at = self.s.deadline if self.s.deadline is not None else self.s.now
        self.s = replace(self.s, cue=self.s.cue + 1, last_cue_at=at)
        if cue.kind == "end":
            # the position is done: a later "back" is no longer the undoing of the "next" that led here
            self.s = replace(self.s, stretches_done=self.s.stretches_done | {self.s.pos.stretch}, came_from=None)
            self.speak_lines(Phase.RELEASE, (script.release_line(self.s.routine, self.s.phrases, self.s.pos),))
            return
        self.log("cue", **cue.log)
        if cue.text:
            self.say(cue.text)
        self.schedule_next_cue()

    def after_release(self) -> None:
        pos, routine = self.s.pos, self.s.routine
        stretch = routine.stretches[pos.stretch]
        if pos.side + 1 < len(stretch.sides):
            self.enter(Position(pos.stretch, pos.side + 1, pos.repetition))
        elif stretch.repeat == "comfortable" and pos.repetition < routine.repeats:
            self.speak_lines(Phase.ASK, (Line(self.s.phrases.say("ask_again")),))
        elif isinstance(stretch.repeat, int) and pos.repetition < stretch.repeat:
            self.enter(Position(pos.stretch, 0, pos.repetition + 1))
        else:
            self.next_stretch()

    def ask_unanswered(self) -> None:
        # No answer: go round again, up to the routine's default count (after_release stops asking there).
        self.reply("going_again")
        self.go_again()

    def go_again(self) -> None:
        self.enter(Position(self.s.pos.stretch, 0, self.s.pos.repetition + 1))

    def next_stretch(self) -> None:
        nxt = self.s.pos.stretch + 1
        if nxt < len(self.s.routine.stretches):
            self.enter(Position(nxt))
        else:
            self.s = replace(self.s, cues=())
            self.speak_lines(Phase.OUTRO, tuple(Line(t) for t in self.s.routine.outro))

    def next_position(self) -> None:
        pos, routine = self.s.pos, self.s.routine
        stretch = routine.stretches[pos.stretch]
        if pos.side + 1 < len(stretch.sides):
            self.enter(Position(pos.stretch, pos.side + 1, pos.repetition))
        elif isinstance(stretch.repeat, int) and pos.repetition < stretch.repeat:
            self.enter(Position(pos.stretch, 0, pos.repetition + 1))
        else:
            self.next_stretch()

    def previous_position(self) -> None:
        pos, routine = self.s.pos, self.s.routine
        if pos.side > 0:
            self.enter(Position(pos.stretch, pos.side - 1, pos.repetition))
        elif pos.repetition > 1:
            last_side = len(routine.stretches[pos.stretch].sides) - 1
            self.enter(Position(pos.stretch, last_side, pos.repetition - 1))
        elif pos.stretch > 0:
            self.enter(Position(pos.stretch - 1))
        else:
            self.reply("nothing_before")
            self.enter(pos)

    def end(self, completed: bool) -> None:
        self.s = replace(self.s, completed=completed, deadline=None, awaiting=None)
        self.set_phase(Phase.ENDED)
        self.log("end", completed=completed, stretches_done=len(self.s.stretches_done))

    # ---- commands ---------------------------------------------------------------------------------

    def heard(self, intent: Intent | None, text: str) -> None:
        self.log("command", intent=intent.value if intent else "none", text=text)
        if intent is None or self.s.phase in (Phase.ENDED, Phase.IDLE):
            return
        if self.s.stopping and self.heard_while_stopping(intent):
            return
        if self.s.paused:
            if intent in (Intent.RESUME, Intent.START):
                self.resume()
                return
            if intent in (Intent.NEXT, Intent.BACK, Intent.REPEAT):
                self.unpause()
        handler = getattr(self, f"on_{intent.value}")
        handler()

    def on_start(self) -> None:
        if self.s.phase in (Phase.INTRO, Phase.WAITING):
            self.effects.append(Cut())
            self.s = replace(self.s, offer=None, pos=Position(0))
            self.begin_routine()
        else:
            self.reply("already_started")

    def on_next(self) -> None:
        self.effects.append(Cut())
        was, was_phase = self.s.pos, self.s.phase
        self._next()
        moved = self.s.pos != was or (self.s.phase == Phase.OUTRO and was_phase != Phase.OUTRO)
        if self.s.phase in (Phase.INSTRUCT, Phase.HOLD, Phase.OUTRO) and moved:
            self.s = replace(self.s, came_from=was)

    def _next(self) -> None:
        if self.s.phase in (Phase.INTRO, Phase.WAITING):
            self.begin_routine()
        elif self.s.phase == Phase.ASK:
            self.reply("moving_on")
            self.next_stretch()
        elif self.s.phase == Phase.OUTRO:
            self.end(completed=True)
        else:
            stretch = self.s.routine.stretches[self.s.pos.stretch]
            if stretch.repeat == "comfortable" and self.s.pos.side + 1 >= len(stretch.sides):
                self.next_stretch()
            else:
                self.next_position()

    def on_back(self) -> None:
        if self.s.phase in (Phase.INTRO, Phase.WAITING):
            self.on_repeat()
            return
        self.effects.append(Cut())
        if self.s.came_from is not None:
            self.enter(self.s.came_from)  # undoing a "next": the very side and round it left
        elif self.s.phase == Phase.OUTRO:
            self.enter(Position(len(self.s.routine.stretches) - 1))
        else:
            self.previous_position()

    def on_repeat(self) -> None:
        phase = self.s.phase
        self.effects.append(Cut())
        if phase in (Phase.INTRO, Phase.WAITING):
            self.speak_lines(Phase.INTRO, intro_lines(self.s))
        elif phase == Phase.HOLD:
            self.s = replace(self.s, hold_suspended_at=self.s.now)
            self.speak_lines(Phase.INSTRUCT, script.position_lines(self.s.routine, self.s.phrases, self.s.pos))
        elif phase == Phase.INSTRUCT:
            self.speak_lines(Phase.INSTRUCT, self.s.lines)
        elif phase == Phase.RELEASE:
            self.enter(self.s.pos, chime=False)
        elif phase == Phase.ASK:
            self.reply("going_again")
            self.go_again()
        elif phase == Phase.OUTRO:
            self.speak_lines(Phase.OUTRO, self.s.lines)

    def on_slower(self) -> None:
        self._tempo(Intent.SLOWER, "slower", "slowest")

    def on_faster(self) -> None:
        self._tempo(Intent.FASTER, "faster", "fastest")

    def _tempo(self, intent: Intent, changed: str, at_limit: str) -> None:
        tempo = change_tempo(self.s.tempo, intent)
        if tempo == self.s.tempo:
            self.reply(at_limit)
            return
        self.s = replace(self.s, tempo=tempo)
        self.log("tempo", tempo=tempo)
        if self.s.phase == Phase.HOLD and self.s.deadline is not None and not self.s.paused:
            # (in a pause the deadline is the pause's own limit; "resume" schedules the cue at the new tempo)
            self.schedule_next_cue()
        self.reply(changed)

    def on_louder(self) -> None:
        self._volume(+VOLUME_STEP_DB, "louder", "loudest")

    def on_quieter(self) -> None:
        self._volume(-VOLUME_STEP_DB, "quieter", "quietest")

    def _volume(self, step: float, changed: str, at_limit: str) -> None:
        volume = min(VOLUME_MAX_DB, max(VOLUME_MIN_DB, self.s.volume_db + step))
        if volume == self.s.volume_db:
            self.reply(at_limit)
            return
        self.effects.append(Volume(volume - self.s.volume_db))
        self.s = replace(self.s, volume_db=volume)
        self.log("volume", volume_db=volume)
        self.reply(changed)

    def on_pause(self) -> None:
        if self.s.paused:
            return
        self.effects.append(Cut())
        self.s = replace(self.s, paused_at=self.s.now, awaiting=None,
                         deadline=self.s.now + PAUSE_LIMIT_SECONDS)
        self.log("state", state="paused")

    def unpause(self) -> None:
        """Leave the pause, with the hold's schedule moved on by the time spent paused."""
        paused_at = self.s.paused_at
        if paused_at is None:
            return
        shift = self.s.now - paused_at
        self.s = replace(self.s, paused_at=None, last_cue_at=self.s.last_cue_at + shift,
                         hold_suspended_at=None if self.s.hold_suspended_at is None
                         else self.s.hold_suspended_at + shift)
        self.log("state", state=self.s.phase.value)

    def resume(self) -> None:
        """Carry on from where the pause was: the same line, or the hold's remaining cues."""
        if not self.s.paused:
            return
        self.unpause()
        self.reply("resume")
        phase = self.s.phase
        if phase == Phase.HOLD:
            self.s = replace(self.s, last_cue_at=self.s.last_cue_at + RESUME_LEAD_SECONDS)
            self.schedule_next_cue()
        elif phase == Phase.WAITING:
            self.s = replace(self.s, deadline=self.s.now + AUTO_START_SECONDS)
        elif phase in SPEAKING:
            self._say_current_line()

    def on_resume(self) -> None:
        if self.s.phase in (Phase.INTRO, Phase.WAITING) and self.s.offer is not None:
            self.effects.append(Cut())
            self.s = replace(self.s, pos=self.s.offer, offer=None)
            self.begin_routine()
        else:
            self.resume()

    def on_stop(self) -> None:
        """Silent at once, and ending in a few seconds unless undone: a misheard "stop" costs one word."""
        self.effects.append(Cut())
        self.s = replace(self.s, stopping=True, paused_before_stop=self.s.paused,
                         paused_at=self.s.paused_at if self.s.paused else self.s.now, awaiting=None,
                         deadline=self.s.now + STOP_GRACE_SECONDS)
        self.log("state", state="stopping")
        self.reply("stopping")

    def heard_while_stopping(self, intent: Intent) -> bool:
        """A command in the seconds after "stop": True when it settled the matter here. "stop" again ends
        at once; "no", "resume" or "start" take back the stop (back to the pause, if it was paused);
        any other command takes it back and is then acted on as in a pause."""
        if intent == Intent.STOP:
            self.stop_now()
            return True
        was_paused = self.s.paused_before_stop
        self.s = replace(self.s, stopping=False, paused_before_stop=False)
        self.log("state", state="stop_undone")
        if intent in (Intent.RESUME, Intent.START) or (intent == Intent.NO and not was_paused):
            self.resume()
            return True
        # paused, as it was before the "stop" (or as "pause" asks)
        self.s = replace(self.s, deadline=self.s.now + PAUSE_LIMIT_SECONDS)
        if intent in (Intent.NO, Intent.PAUSE):
            self.log("state", state="paused")
            return True
        return False

    def stop_now(self) -> None:
        self.effects.append(Cut())
        self.s = replace(self.s, paused_at=None, stopping=False)
        self.reply("goodnight")
        self.end(completed=False)

    def on_no(self) -> None:
        """ "no" undoes a "stop"; anywhere else it means nothing (a partner's "no" must change nothing)."""

    def on_help(self) -> None:
        self.reply("help")

    def on_status(self) -> None:
        routine, phrases, pos = self.s.routine, self.s.phrases, self.s.pos
        stretch = routine.stretches[pos.stretch]
        self.reply("status", index=pos.stretch + 1, total=len(routine.stretches), name=stretch.name)
        if pos.stretch + 1 < len(routine.stretches):
            self.reply("status_next", name=routine.stretches[pos.stretch + 1].name)
        else:
            self.reply("status_last")
        minutes = max(1, round(seconds_left(self.s) / 60))
        self.reply("status_left", minutes=phrases.minutes(minutes))


def seconds_left(state: State) -> float:
    """An estimate of the session time still to come: what is left of the current position (its lines
    from the one being said, its hold from the next cue), then every position after it and the outro.
    Frozen in a pause; longer after "slower", "back" and "repeat"."""
    routine, phrases, tempo, phase, here = state.routine, state.phrases, state.tempo, state.phase, state.pos
    if phase == Phase.ENDED:
        return 0.0

    def said(lines: tuple[Line, ...]) -> float:
        return sum(script.estimate_speech_seconds(line.text, tempo) + line.pause_after * tempo for line in lines)

    if phase == Phase.OUTRO:
        return said(state.lines[state.line:])
    later = said(tuple(Line(t) for t in routine.outro))
    for pos in script.positions(routine):
        if _order(pos) > _order(here):
            side = routine.stretches[pos.stretch].sides[pos.side]
            later += said((*script.position_lines(routine, phrases, pos), script.release_line(routine, phrases, pos)))
            later += hold_seconds(side.hold, tempo)
    if phase == Phase.ASK:
        return later
    release = said((script.release_line(routine, phrases, here),))
    if phase == Phase.RELEASE:
        return said(state.lines[state.line:]) + later
    hold_left = sum(cue.gap for cue in state.cues[state.cue:]) * tempo
    if phase == Phase.HOLD:
        return hold_left + release + later
    if phase == Phase.INSTRUCT:
        if not (state.hold_suspended_at is not None and state.cues):  # not "repeat" in the middle of a hold
            hold_left = hold_seconds(routine.stretches[here.stretch].sides[here.side].hold, tempo)
        return said(state.lines[state.line:]) + hold_left + release + later
    # before the routine has begun: all of the first position
    here_lines = script.position_lines(routine, phrases, here)
    return said(here_lines) + hold_seconds(routine.stretches[here.stretch].sides[here.side].hold, tempo) \
        + release + later


def _order(pos: Position) -> tuple[int, int, int]:
    """The order positions come in: stretch, then round, then side."""
    return pos.stretch, pos.repetition, pos.side


def step(state: State, event: Event) -> tuple[State, list[Effect]]:
    """The controller: the state after `event`, and what to do about it."""
    st = _Step(state, event.now)
    s = st.s
    if isinstance(event, Begin):
        if s.phase == Phase.IDLE:
            st.speak_lines(Phase.INTRO, intro_lines(s))
    elif isinstance(event, Heard):
        st.heard(event.intent, event.text)
    elif isinstance(event, SpeechDone):
        if s.phase in SPEAKING:
            st.speech_done(event.seq)
    elif isinstance(event, Tick) and s.deadline is not None and event.now >= s.deadline:
        _deadline_reached(st)
    return st.s, st.effects


def _deadline_reached(st: _Step) -> None:
    s = st.s
    if s.stopping:
        st.stop_now()
    elif s.paused:
        st.log("state", state="paused_too_long")
        st.end(completed=False)
    elif s.phase == Phase.WAITING:
        st.begin_routine()
    elif s.phase == Phase.HOLD:
        st.cue_due()
    elif s.phase in SPEAKING and s.awaiting is None:
        st.line_pause_over()
