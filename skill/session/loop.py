"""Drives the controller: one loop for every session, fed by an inbox of events.

The loop asks the inbox for the next event before the controller's `wake_at` (a Tick if none comes),
steps the controller and carries out its effects. A virtual inbox and a simulated speaker make
`simulate` (and `render`) run a whole session in milliseconds; a live inbox does the same on the real
clock, with the recognizer and the speaker posting events from their threads.
"""

from __future__ import annotations

import heapq
import itertools
import json
import queue
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from skill.hearing.commands import Intent, parse
from skill.routine.definition import Routine
from skill.routine.script import Position, estimate_speech_seconds
from skill.session.clock import Clock, RealClock, VirtualClock
from skill.session.controller import step
from skill.session.effects import (
    CHIME_SECONDS,
    Begin,
    Chime,
    Cut,
    Effect,
    Event,
    Heard,
    Log,
    Say,
    Speaker,
    SpeakerBack,
    SpeakerLost,
    SpeechDone,
    Tick,
    Volume,
)
from skill.session.state import State, initial_state

SpeechSeconds = Callable[[str, float], float]
MAX_SESSION_SECONDS = 6 * 3600.0
"""A simulation that runs longer than this is a bug, not a session."""


@dataclass(frozen=True)
class LogEvent:
    t: float
    """Session seconds."""
    event: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"t": round(self.t, 3), "event": self.event, **self.data}, ensure_ascii=False)


class EventLog:
    """The session's events, kept in order and, when given a stream, written as JSON lines at once."""

    def __init__(self, stream: IO[str] | None = None, echo: Callable[[LogEvent], None] | None = None):
        self.events: list[LogEvent] = []
        self._stream = stream
        self._echo = echo

    def write(self, t: float, event: str, data: dict[str, Any] | None = None) -> None:
        item = LogEvent(t, event, data or {})
        self.events.append(item)
        if self._stream is not None:
            self._stream.write(item.to_json() + "\n")
            self._stream.flush()
        if self._echo is not None:
            self._echo(item)


def read_event_log(path: Path) -> list[dict[str, Any]]:
    """The events a session has written to `path` so far (none if it has not begun): whole lines only, as
    a reader polling a running session's file can catch its newest line half written."""
    if not path.exists():
        return []
    data = path.read_bytes()  # (cut as bytes: the half line may end inside a character)
    text = data[: data.rfind(b"\n") + 1].decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class Inbox(Protocol):
    @property
    def clock(self) -> Clock: ...

    def next_event(self, deadline: float | None) -> Event | None:
        """The next event before `deadline` (a Tick at the deadline if none); None when nothing can come."""


def run(state: State, inbox: Inbox, speaker: Speaker, log: EventLog,
        on_step: Callable[[State], None] | None = None) -> State:
    """Run a session from its beginning to its end (or until the inbox closes)."""
    state = _apply(state, Begin(inbox.clock.now()), speaker, log)
    while not state.ended:
        event = inbox.next_event(state.wake_at)
        if event is None:
            break
        state = _apply(state, event, speaker, log)
        if on_step is not None:
            on_step(state)
    return state


def _apply(state: State, event: Event, speaker: Speaker, log: EventLog) -> State:
    state, effects = step(state, event)
    for effect in effects:
        carry_out(effect, state.now, speaker, log)
    return state


def carry_out(effect: Effect, now: float, speaker: Speaker, log: EventLog) -> None:
    if isinstance(effect, Say):
        speaker.say(effect)
    elif isinstance(effect, Chime):
        speaker.chime(effect)
    elif isinstance(effect, Cut):
        speaker.cut()
    elif isinstance(effect, Volume):
        speaker.change_volume(effect.step_db)
    elif isinstance(effect, Log):
        log.write(now, effect.event, effect.data)


# ---- live: the real clock, events posted from other threads ------------------------------------------


class LiveInbox:
    """Events posted from the recognizer's and speaker's threads, on the real clock."""

    def __init__(self, clock: Clock | None = None, lead: float = 0.0):
        self.clock = clock or RealClock()
        self.lead = lead
        """Seconds to wake before each deadline: the speaker's output latency, so a cue due at t is heard at
        t rather than a buffer later."""
        self._queue: queue.Queue[Event | None] = queue.Queue()

    def heard(self, intent: Intent | None, text: str) -> None:
        self._queue.put(Heard(self.clock.now(), intent, text))

    def speech_done(self, seq: int) -> None:
        self._queue.put(SpeechDone(self.clock.now(), seq))

    def speaker_lost(self) -> None:
        self._queue.put(SpeakerLost(self.clock.now()))

    def speaker_back(self) -> None:
        self._queue.put(SpeakerBack(self.clock.now()))

    def close(self) -> None:
        """Wake the loop with no event: the session is over (Ctrl-C, SIGTERM)."""
        self._queue.put(None)

    def next_event(self, deadline: float | None) -> Event | None:
        timeout = None if deadline is None else max(0.0, deadline - self.lead - self.clock.now())
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            # stamped with the deadline itself: the controller sees its schedule kept, not the early wake
            return Tick(max(self.clock.now(), deadline or 0.0))


class LoggedSpeaker:
    """Writes a `say` / `chime` log line when an utterance is handed to a live speaker."""

    def __init__(self, inner: Speaker, log: EventLog, clock: Clock):
        self._inner, self._log, self._clock = inner, log, clock

    def say(self, say: Say) -> None:
        self._log.write(self._clock.now(), "say", {"text": say.text, "tempo": say.tempo})
        self._inner.say(say)

    def chime(self, chime: Chime) -> None:
        self._log.write(self._clock.now(), "chime", {})
        self._inner.chime(chime)

    def cut(self) -> None:
        self._inner.cut()

    def change_volume(self, step_db: float) -> float:
        return self._inner.change_volume(step_db)

    def close(self, fade: bool = True) -> None:
        self._inner.close(fade)


# ---- virtual: simulate a whole session in milliseconds ------------------------------------------------


class VirtualInbox:
    """A virtual clock and a timetable of things that will happen (speech ending, words heard)."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        self._timetable: list[tuple[float, int, Callable[[], Event | None]]] = []
        self._order = itertools.count()

    def at(self, t: float, happen: Callable[[], Event | None]) -> None:
        heapq.heappush(self._timetable, (t, next(self._order), happen))

    def next_event(self, deadline: float | None) -> Event | None:
        while self._timetable and (deadline is None or self._timetable[0][0] <= deadline):
            t, _, happen = heapq.heappop(self._timetable)
            self.clock.advance_to(t)
            event = happen()
            if event is not None:
                return event
        if deadline is None:
            return None
        if deadline > MAX_SESSION_SECONDS:
            raise RuntimeError(f"simulation ran past {MAX_SESSION_SECONDS:.0f} s: a routine longer than any night, "
                               "or a controller that never ends")
        self.clock.advance_to(deadline)
        return Tick(deadline)


class SimulatedSpeaker:
    """Says utterances one after another on the virtual clock, for as long as `speech_seconds` says."""

    def __init__(self, inbox: VirtualInbox, log: EventLog, speech_seconds: SpeechSeconds):
        self._inbox, self._log, self._seconds = inbox, log, speech_seconds
        self._queue: list[Say | Chime] = []
        self._playing: Say | Chime | None = None
        self._generation = 0
        self.gain_db = 0.0

    def say(self, say: Say) -> None:
        self._enqueue(say)

    def chime(self, chime: Chime) -> None:
        self._enqueue(chime)

    def _enqueue(self, item: Say | Chime) -> None:
        self._queue.append(item)
        if self._playing is None:
            self._start_next()

    def _start_next(self) -> None:
        item = self._queue.pop(0)
        self._playing = item
        now = self._inbox.clock.now()
        if isinstance(item, Say):
            self._log.write(now, "say", {"text": item.text, "tempo": item.tempo})
            seconds = self._seconds(item.text, item.tempo)
        else:
            self._log.write(now, "chime", {})
            seconds = CHIME_SECONDS
        generation = self._generation
        self._inbox.at(now + seconds, lambda: self._finished(item.seq, generation))

    def _finished(self, seq: int, generation: int) -> Event | None:
        if generation != self._generation:
            return None
        self._playing = None
        if self._queue:
            self._start_next()
        return SpeechDone(self._inbox.clock.now(), seq)

    def cut(self) -> None:
        dropped = [i.seq for i in self._queue] + ([self._playing.seq] if self._playing else [])
        self._queue.clear()
        self._playing = None
        self._generation += 1
        if dropped:
            now, last = self._inbox.clock.now(), max(dropped)
            self._inbox.at(now, lambda: SpeechDone(now, last))

    def change_volume(self, step_db: float) -> float:
        self.gain_db += step_db
        return self.gain_db

    def close(self, fade: bool = True) -> None:
        self._queue.clear()


def _hearing(t: float, text: str) -> Callable[[], Event | None]:
    return lambda: Heard(t, parse(text), text)


def simulate(routine: Routine, commands: Iterable[tuple[float, str]] = (),
             speech_seconds: SpeechSeconds | None = None, tempo: float = 1.0,
             start_at: Position | None = None, offer: Position | None = None,
             stream: IO[str] | None = None) -> list[LogEvent]:
    """A whole session on a virtual clock, with `commands` (session seconds, words) heard on the way.

    `say` events are stamped when the simulated speaker starts the utterance.
    """
    inbox = VirtualInbox()
    log = EventLog(stream)
    speaker = SimulatedSpeaker(inbox, log, speech_seconds or estimate_speech_seconds)
    for t, text in commands:
        inbox.at(t, _hearing(t, text))
    state = run(initial_state(routine, tempo=tempo, start_at=start_at, offer=offer), inbox, speaker, log)
    if not state.ended:
        raise RuntimeError("simulation stopped before the session ended")
    return log.events
