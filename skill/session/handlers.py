"""What each command does, by phase: the controller's answer to a person's words."""

from __future__ import annotations

from dataclasses import replace

from skill.hearing.commands import Intent
from skill.routine import script
from skill.routine.pacer import change_tempo
from skill.routine.script import Position
from skill.session.effects import VOLUME_MAX_DB, VOLUME_MIN_DB, Cut, Volume
from skill.session.state import (
    AUTO_START_SECONDS,
    PAUSE_LIMIT_SECONDS,
    RESUME_LEAD_SECONDS,
    SPEAKING,
    STOP_ANSWER_SECONDS,
    STOP_GRACE_SECONDS,
    VOLUME_STEP_DB,
    Phase,
    intro_lines,
    seconds_left,
)
from skill.session.step import Step


def heard(st: Step, intent: Intent | None, text: str) -> None:
    st.log("command", intent=intent.value if intent else "none", text=text)
    if intent is None or st.s.phase in (Phase.ENDED, Phase.IDLE):
        return
    if st.s.stopping and _heard_while_stopping(st, intent):
        return
    if st.s.paused:
        if intent in (Intent.RESUME, Intent.START):
            _resume(st)
            return
        if intent in (Intent.NEXT, Intent.BACK, Intent.REPEAT):
            _unpause(st)
    match intent:
        case Intent.START:
            _start(st)
        case Intent.NEXT:
            _next(st)
        case Intent.BACK:
            _back(st)
        case Intent.REPEAT:
            _repeat(st)
        case Intent.SLOWER:
            _tempo(st, Intent.SLOWER, "slower", "slowest")
        case Intent.FASTER:
            _tempo(st, Intent.FASTER, "faster", "fastest")
        case Intent.LOUDER:
            _volume(st, +VOLUME_STEP_DB, "louder", "loudest")
        case Intent.QUIETER:
            _volume(st, -VOLUME_STEP_DB, "quieter", "quietest")
        case Intent.PAUSE:
            _pause(st)
        case Intent.RESUME:
            _resume_or_continue_offer(st)
        case Intent.STOP:
            _stop(st)
        case Intent.HELP:
            st.reply("help")
        case Intent.STATUS:
            _status(st)
        case Intent.NO:
            pass  # "no" only undoes a "stop"; anywhere else a partner's "no" must change nothing


def speaker_lost(st: Step) -> None:
    """Paused as "pause" would, but logged as what it is (state "waiting_for_speaker"); nothing if already
    paused."""
    st.log("device", device="speaker", state="lost")
    if st.s.phase in (Phase.ENDED, Phase.IDLE) or st.s.paused or st.s.stopping:
        return
    # a state of its own: "paused" is what the person asked for, and the log must not say they did
    st.effects.append(Cut())
    st.s = replace(st.s, paused_at=st.s.now, awaiting=None, deadline=st.s.now + PAUSE_LIMIT_SECONDS,
                   paused_for_speaker=True)
    st.log("state", state="waiting_for_speaker")


def speaker_back(st: Step) -> None:
    """Carries on where the speaker's loss paused it; a pause the person asked for stays."""
    st.log("device", device="speaker", state="back")
    if st.s.paused_for_speaker:
        st.s = replace(st.s, paused_for_speaker=False)
        _resume(st)


def _start(st: Step) -> None:
    if st.s.phase in (Phase.INTRO, Phase.WAITING):
        st.effects.append(Cut())
        st.s = replace(st.s, offer=None, pos=Position(0))
        st.begin_routine()
    else:
        st.reply("already_started")


def _next(st: Step) -> None:
    st.effects.append(Cut())
    was, was_phase = st.s.pos, st.s.phase
    if was_phase in (Phase.INTRO, Phase.WAITING):
        st.begin_routine()
    elif was_phase == Phase.ASK:
        st.reply("moving_on")
        st.next_stretch()
    elif was_phase == Phase.OUTRO:
        st.end(completed=True)
    else:
        st.next_position()
    moved = st.s.pos != was or (st.s.phase == Phase.OUTRO and was_phase != Phase.OUTRO)
    if st.s.phase in (Phase.INSTRUCT, Phase.HOLD, Phase.OUTRO) and moved:
        st.s = replace(st.s, came_from=was)


def _back(st: Step) -> None:
    if st.s.phase in (Phase.INTRO, Phase.WAITING):
        _repeat(st)
        return
    st.effects.append(Cut())
    if st.s.came_from is not None:
        st.enter(st.s.came_from)  # undoing a "next": the very side and round it left
    elif st.s.phase == Phase.OUTRO:
        st.enter(Position(len(st.s.routine.stretches) - 1))
    else:
        st.previous_position()


def _repeat(st: Step) -> None:
    phase = st.s.phase
    st.effects.append(Cut())
    if phase in (Phase.INTRO, Phase.WAITING):
        st.speak_lines(Phase.INTRO, intro_lines(st.s))
    elif phase == Phase.HOLD:
        st.s = replace(st.s, hold_suspended_at=st.s.now)
        st.speak_lines(Phase.INSTRUCT, script.position_lines(st.s.routine, st.s.phrases, st.s.pos))
    elif phase == Phase.INSTRUCT:
        st.speak_lines(Phase.INSTRUCT, st.s.lines)
    elif phase == Phase.RELEASE:
        st.enter(st.s.pos, chime=False)
    elif phase == Phase.ASK:
        st.reply("going_again")
        st.go_again()
    elif phase == Phase.OUTRO:
        st.speak_lines(Phase.OUTRO, st.s.lines)


def _tempo(st: Step, intent: Intent, changed: str, at_limit: str) -> None:
    tempo = change_tempo(st.s.tempo, intent)
    if tempo == st.s.tempo:
        st.reply(at_limit)
        return
    st.s = replace(st.s, tempo=tempo)
    st.log("tempo", tempo=tempo)
    if st.s.phase == Phase.HOLD and st.s.deadline is not None and not st.s.paused:
        # (in a pause the deadline is the pause's own limit; "resume" schedules the cue at the new tempo)
        st.schedule_next_cue()
    st.reply(changed)


def _volume(st: Step, step_db: float, changed: str, at_limit: str) -> None:
    volume = min(VOLUME_MAX_DB, max(VOLUME_MIN_DB, st.s.volume_db + step_db))
    if volume == st.s.volume_db:
        st.reply(at_limit)
        return
    st.effects.append(Volume(volume - st.s.volume_db))
    st.s = replace(st.s, volume_db=volume)
    st.log("volume", volume_db=volume)
    st.reply(changed)


def _pause(st: Step) -> None:
    if st.s.paused:
        return
    st.effects.append(Cut())
    st.s = replace(st.s, paused_at=st.s.now, awaiting=None, deadline=st.s.now + PAUSE_LIMIT_SECONDS)
    st.log("state", state="paused")


def _unpause(st: Step) -> None:
    """Leave the pause, with the hold's schedule moved on by the time spent paused."""
    paused_at = st.s.paused_at
    if paused_at is None:
        return
    shift = st.s.now - paused_at
    st.s = replace(st.s, paused_at=None, paused_for_speaker=False, last_cue_at=st.s.last_cue_at + shift,
                   hold_suspended_at=None if st.s.hold_suspended_at is None else st.s.hold_suspended_at + shift)
    st.log("state", state=st.s.phase.value)


def _resume(st: Step) -> None:
    """Carry on from where the pause was: the same line, or the hold's remaining cues."""
    st.s = replace(st.s, paused_for_speaker=False)
    if not st.s.paused:
        return
    _unpause(st)
    st.reply("resume")
    phase = st.s.phase
    if phase == Phase.HOLD:
        st.s = replace(st.s, last_cue_at=st.s.last_cue_at + RESUME_LEAD_SECONDS)
        st.schedule_next_cue()
    elif phase == Phase.WAITING:
        st.s = replace(st.s, deadline=st.s.now + AUTO_START_SECONDS)
    elif phase in SPEAKING:
        st.say_current_line()


def _resume_or_continue_offer(st: Step) -> None:
    if st.s.phase in (Phase.INTRO, Phase.WAITING) and st.s.offer is not None:
        st.effects.append(Cut())
        st.s = replace(st.s, pos=st.s.offer, offer=None)
        st.begin_routine()
    else:
        _resume(st)


def _stop(st: Step) -> None:
    """Silent at once, and ending in a few seconds unless undone: a misheard "stop" costs one word."""
    st.effects.append(Cut())
    st.s = replace(st.s, stopping=True, paused_before_stop=st.s.paused,
                   paused_at=st.s.paused_at if st.s.paused else st.s.now, awaiting=None,
                   deadline=st.s.now + STOP_GRACE_SECONDS)
    st.log("state", state="stopping")
    st.s = replace(st.s, stop_prompt=st.say(st.s.phrases.say("stopping")))


def stop_prompt_done(st: Step, seq: int) -> None:
    """The guide has said how to take the stop back: the person has at least STOP_ANSWER_SECONDS from now."""
    if st.s.stop_prompt is not None and seq >= st.s.stop_prompt:
        st.s = replace(st.s, stop_prompt=None, deadline=max(st.s.deadline or st.s.now,
                                                             st.s.now + STOP_ANSWER_SECONDS))


def _heard_while_stopping(st: Step, intent: Intent) -> bool:
    """A command in the seconds after "stop": True when it settled the matter here. "stop" again ends at
    once; "no", "resume" or "start" take back the stop (back to the pause, if it was paused); any other
    command takes it back and is then acted on as in a pause."""
    if intent == Intent.STOP:
        st.stop_now()
        return True
    was_paused = st.s.paused_before_stop
    st.s = replace(st.s, stopping=False, paused_before_stop=False, stop_prompt=None)
    st.log("state", state="stop_undone")
    if intent in (Intent.RESUME, Intent.START) or (intent == Intent.NO and not was_paused):
        _resume(st)
        return True
    # paused, as it was before the "stop" (or as "pause" asks)
    st.s = replace(st.s, deadline=st.s.now + PAUSE_LIMIT_SECONDS)
    if intent in (Intent.NO, Intent.PAUSE):
        st.log("state", state="paused")
        return True
    return False


def _status(st: Step) -> None:
    routine, phrases, pos = st.s.routine, st.s.phrases, st.s.pos
    stretch = routine.stretches[pos.stretch]
    st.reply("status", index=pos.stretch + 1, total=len(routine.stretches), name=stretch.name)
    if pos.stretch + 1 < len(routine.stretches):
        st.reply("status_next", name=routine.stretches[pos.stretch + 1].name)
    else:
        st.reply("status_last")
    minutes = max(1, round(seconds_left(st.s) / 60))
    st.reply("status_left", minutes=phrases.minutes(minutes))
