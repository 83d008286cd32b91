"""One step of the controller: a working copy of the state, changed by speaking, going through the
routine and its holds, and the effects that come of it."""

from __future__ import annotations

from dataclasses import replace

from skill.routine import script
from skill.routine.pacer import CueKind, schedule
from skill.routine.script import Line, Position
from skill.session import navigation
from skill.session.effects import Chime, Cut, Effect, Log, Say
from skill.session.state import (
    ASK_WAIT_SECONDS,
    AUTO_START_SECONDS,
    RESUME_LEAD_SECONDS,
    Phase,
    State,
)


class Step:
    """One step's working copy of the state and the effects it produces: speaking line by line, and
    going through the routine's positions and holds. What each command does is in `handlers`."""

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
        self.say_current_line()

    def say_current_line(self) -> None:
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
            self.say_current_line()
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
        if cue.kind == CueKind.END:
            # the position is done: a later "back" is no longer the undoing of the "next" that led here
            self.s = replace(self.s, stretches_done=self.s.stretches_done | {self.s.pos.stretch}, came_from=None)
            self.speak_lines(Phase.RELEASE, (script.release_line(self.s.routine, self.s.phrases, self.s.pos),))
            return
        self.log("cue", **cue.log)
        if cue.text:
            self.say(cue.text)
        self.schedule_next_cue()

    def after_release(self) -> None:
        routine, pos = self.s.routine, self.s.pos
        if navigation.asks_again(routine, pos):
            self.speak_lines(Phase.ASK, (Line(self.s.phrases.say("ask_again")),))
        else:
            self.next_position()

    def ask_unanswered(self) -> None:
        # No answer: go round again, up to the routine's default count (after_release stops asking there).
        self.reply("going_again")
        self.go_again()

    def go_again(self) -> None:
        self.enter(Position(self.s.pos.stretch, 0, self.s.pos.repetition + 1))

    def next_stretch(self) -> None:
        nxt = navigation.next_stretch(self.s.routine, self.s.pos)
        if nxt is not None:
            self.enter(nxt)
        else:
            self.s = replace(self.s, cues=())
            self.speak_lines(Phase.OUTRO, tuple(Line(t) for t in self.s.routine.outro))

    def next_position(self) -> None:
        nxt = navigation.next_in_stretch(self.s.routine, self.s.pos)
        if nxt is not None:
            self.enter(nxt)
        else:
            self.next_stretch()

    def previous_position(self) -> None:
        before = navigation.previous(self.s.routine, self.s.pos)
        if before is None:
            self.reply("nothing_before")
        self.enter(before or self.s.pos)

    def end(self, completed: bool) -> None:
        self.s = replace(self.s, completed=completed, deadline=None, awaiting=None)
        self.set_phase(Phase.ENDED)
        self.log("end", completed=completed, stretches_done=len(self.s.stretches_done))

    def stop_now(self) -> None:
        self.effects.append(Cut())
        self.s = replace(self.s, paused_at=None, stopping=False)
        self.reply("goodnight")
        self.end(completed=False)
