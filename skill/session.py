"""Wires the pieces for a session on the real clock. Threads, not asyncio: sounddevice, Piper and the
recognizers are blocking C libraries, and each runs on its own thread posting into one LiveInbox,
while the controller loop runs on the main thread.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import IO, TextIO

from skill.commands import parse
from skill.controller import State, initial_state
from skill.engine import EventLog, LiveInbox, LoggedSpeaker, run
from skill.routine import Routine
from skill.script import Position
from skill.text_speaker import TextSpeaker


@contextlib.contextmanager
def stop_on_signals(inbox: LiveInbox) -> Iterator[threading.Event]:
    """SIGTERM (and SIGHUP) end the session cleanly, like Ctrl-C: the loop wakes and returns."""
    stopped = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return

    def handle(signum: int, frame: object) -> None:
        stopped.set()
        inbox.close()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield stopped
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def read_typed_commands(inbox: LiveInbox, stream: TextIO) -> threading.Thread:
    """Each typed line is heard as if spoken (same parser as the recognizer)."""

    def work() -> None:
        for line in stream:
            text = line.strip()
            if text:
                inbox.heard(parse(text), text)

    thread = threading.Thread(target=work, name="typed-commands", daemon=True)
    thread.start()
    return thread


def run_text_session(routine: Routine, *, tempo: float = 1.0, events: IO[str] | None = None,
                     commands: TextIO | None = None, out: TextIO | None = None,
                     start_at: Position | None = None) -> State:
    """The session in a terminal: prints what it would say, reads typed commands as it goes."""
    out = out or sys.stdout
    inbox = LiveInbox()
    log = EventLog(events)
    speaker = TextSpeaker(on_done=inbox.speech_done, out=out)
    read_typed_commands(inbox, commands or sys.stdin)
    print("(text mode: type a command and press Enter, e.g. next, slower, pause, stop; Ctrl-C ends)",
          file=out, flush=True)
    state = initial_state(routine, tempo=tempo, start_at=start_at)
    with stop_on_signals(inbox):
        try:
            state = run(state, inbox, LoggedSpeaker(speaker, log, inbox.clock), log)
        except KeyboardInterrupt:
            speaker.cut()
            print("  Goodnight.", file=out, flush=True)
            raise
        finally:
            speaker.close()
    return state
