"""A speaker for terminals: prints each utterance and takes as long as saying it would take."""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from skill.session.effects import Chime, Say
from skill.routine.script import estimate_speech_seconds


class TextSpeaker:
    """Implements the Speaker protocol by printing; `on_done(seq)` is called when the line would end."""

    def __init__(self, on_done: Callable[[int], None], out: TextIO | None = None,
                 speech_seconds: Callable[[str, float], float] = estimate_speech_seconds,
                 on_gone: Callable[[], None] | None = None):
        """`on_gone` is called (once) when the terminal can no longer be written to: a closed or broken
        stdout (`| head`) ends the session instead of leaving it waiting for lines nobody sees."""
        self._on_done = on_done
        self._on_gone = on_gone
        self._gone = False
        self._out = out if out is not None else sys.stdout
        self._seconds = speech_seconds
        self._queue: queue.Queue[Say | Chime | None] = queue.Queue()
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self.gain_db = 0.0
        self._thread = threading.Thread(target=self._work, name="text-speaker", daemon=True)
        self._thread.start()

    def say(self, say: Say) -> None:
        self._queue.put(say)

    def chime(self, chime: Chime) -> None:
        self._queue.put(chime)

    def cut(self) -> None:
        with self._lock:
            self._cut.set()
            dropped: list[int] = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    dropped.append(item.seq)
        if dropped:
            self._on_done(max(dropped))

    def change_volume(self, step_db: float) -> float:
        self.gain_db += step_db
        return self.gain_db

    def close(self, fade: bool = True) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def write(self, text: str) -> bool:
        """Print a line; False (and the session told, once) if the terminal has gone."""
        if not self._gone:
            try:
                if self._out is None:
                    raise ValueError("no standard output")
                print(text, file=self._out, flush=True)
                return True
            except (OSError, ValueError):  # BrokenPipeError, or a closed file
                self._gone = True
                if self._on_gone is not None:
                    self._on_gone()
        return False

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            with self._lock:
                self._cut.clear()
            if isinstance(item, Say):
                shown = self.write(f"  {item.text}")
                seconds = self._seconds(item.text, item.tempo)
            else:
                shown = self.write("  ~ chime ~")
                seconds = 1.0
            if shown:
                self._cut.wait(seconds)
            self._on_done(item.seq)
