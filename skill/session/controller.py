"""The dialogue state machine: `step(state, event) -> (state, effects)`, pure.

It never sleeps, reads a clock or touches audio. Time comes in with each event; what it wants done goes
out as effects; `State.wake_at` says when it next wants a Tick. Speech is one line at a time: the
controller says a line, waits for the speaker's SpeechDone, waits the line's pause, then says the next.
Counts and breath prompts are not waited for: they go out on their scheduled times.
"""

from __future__ import annotations

from skill.session import handlers
from skill.session.effects import Begin, Effect, Event, Heard, SpeakerBack, SpeakerLost, SpeechDone, Tick
from skill.session.state import SPEAKING, Phase, State, intro_lines
from skill.session.step import Step


def step(state: State, event: Event) -> tuple[State, list[Effect]]:
    """The controller: the state after `event`, and what to do about it."""
    st = Step(state, event.now)
    s = st.s
    if isinstance(event, Begin):
        if s.phase == Phase.IDLE:
            st.speak_lines(Phase.INTRO, intro_lines(s))
    elif isinstance(event, Heard):
        handlers.heard(st, event.intent, event.text)
    elif isinstance(event, SpeechDone):
        if s.stopping:
            handlers.stop_prompt_done(st, event.seq)
        elif s.phase in SPEAKING:
            st.speech_done(event.seq)
    elif isinstance(event, SpeakerLost):
        handlers.speaker_lost(st)
    elif isinstance(event, SpeakerBack):
        handlers.speaker_back(st)
    elif isinstance(event, Tick) and s.deadline is not None and event.now >= s.deadline:
        _deadline_reached(st)
    return st.s, st.effects


def _deadline_reached(st: Step) -> None:
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
