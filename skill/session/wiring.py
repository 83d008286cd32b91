"""Wires the pieces for a session on the real clock. Threads, not asyncio: sounddevice, Piper and the
recognizers are blocking C libraries, and each runs on its own thread posting into one LiveInbox,
while the controller loop runs on the main thread.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO, TextIO

from skill.records.bookkeeping import Bookkeeper
from skill.hearing.commands import parse
from skill.session.controller import State, initial_state
from skill.session.effects import Speaker
from skill.session.loop import EventLog, LiveInbox, LoggedSpeaker, run
from skill.routine.definition import Routine
from skill.speaking.text_speaker import TextSpeaker


@contextlib.contextmanager
def handling_signals(handle: Callable[[int, object], None]) -> Iterator[None]:
    """`handle` for SIGTERM and SIGHUP during the block (only the main thread may set handlers: elsewhere
    the block runs without)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def stop_on_signals(inbox: LiveInbox, also: threading.Event | None = None) -> Iterator[threading.Event]:
    """SIGTERM (and SIGHUP) end the session cleanly, like Ctrl-C: the loop wakes and returns. `also` is set
    too (`serve`'s stop: the service ends with the session instead of going back to idle)."""
    stopped = threading.Event()

    def handle(signum: int, frame: object) -> None:
        stopped.set()
        if also is not None:
            also.set()
        inbox.close()

    with handling_signals(handle):
        yield stopped


def typed_lines(stream: TextIO) -> Iterator[str]:
    """The lines of a terminal or pipe as text, whatever bytes arrive: what cannot be decoded is replaced
    (a stray byte must not end the reading, and with it every later command)."""
    raw = getattr(stream, "buffer", None)
    if raw is None:
        yield from stream
        return
    encoding = getattr(stream, "encoding", None) or "utf-8"
    for line in raw:
        yield line.decode(encoding, errors="replace")


def read_typed_commands(inbox: LiveInbox, stream: TextIO) -> threading.Thread:
    """Each typed line is heard as if spoken (same parser as the recognizer)."""

    def work() -> None:
        for line in typed_lines(stream):
            text = line.strip()
            if text:
                inbox.heard(parse(text), text)

    thread = threading.Thread(target=work, name="typed-commands", daemon=True)
    thread.start()
    return thread


def run_live(routine: Routine, inbox: LiveInbox, speaker: Speaker, *, tempo: float | None = None,
             events: IO[str] | None = None, book: Bookkeeper | None = None,
             echo: EventLog | None = None, stop: threading.Event | None = None) -> State | None:
    """A session on the real clock with the given speaker; records progress, history and preferences.

    `tempo` None takes the person's remembered tempo. Returns the last state (None if it never began).
    """
    book = book or Bookkeeper(routine)
    prefs = book.preferences()
    tempo = prefs.tempo if tempo is None else tempo
    log = echo or EventLog(events)
    state = initial_state(routine, tempo=tempo, volume_db=prefs.volume_db, offer=book.offer())
    if prefs.volume_db:
        speaker.change_volume(prefs.volume_db)
    book.started(tempo)
    try:
        with stop_on_signals(inbox, also=stop):
            run(state, inbox, LoggedSpeaker(speaker, log, inbox.clock), log, on_step=book.on_step)
    finally:
        book.finished()
    return book.last


def run_text_session(routine: Routine, *, tempo: float | None = None, events: IO[str] | None = None,
                     commands: TextIO | None = None, out: TextIO | None = None,
                     book: Bookkeeper | None = None) -> State | None:
    """The session in a terminal: prints what it would say, reads typed commands as it goes."""
    inbox = LiveInbox()
    speaker = TextSpeaker(on_done=inbox.speech_done, out=out if out is not None else sys.stdout,
                          on_gone=inbox.close)
    if commands is not None or sys.stdin is not None:
        read_typed_commands(inbox, commands or sys.stdin)
    speaker.write("(text mode: type a command and press Enter, e.g. next, slower, pause, stop; Ctrl-C ends)")
    try:
        return run_live(routine, inbox, speaker, tempo=tempo, events=events, book=book)
    except KeyboardInterrupt:
        speaker.cut()
        speaker.write("  Goodnight.")
        raise
    finally:
        speaker.close()
