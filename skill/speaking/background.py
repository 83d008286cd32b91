"""A first session's phrases, prepared by a child process while the session already speaks.

The child (`bedtime-stretch prepare --background`) renders the routine's missing phrases in the order a
session speaks them, at a low priority. The session asks it for a phrase it needs out of turn (a reply to
"help", a resumed stretch) by writing that text to the child's stdin, and the child makes it next and goes
on from there; each phrase it has stored comes back as a line on its stdout. The voice (about 400 MB with
onnxruntime) lives only in the child and is freed when it is done, so the session's own process never
loads it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO

log = logging.getLogger(__name__)

CLOSE_SECONDS = 3.0
"""How long the child may take to finish its phrase once told to stop, before it is terminated."""
PRIORITY = 10
"""The child's niceness: the session's audio threads come first on a CPU both want."""


class BackgroundPreparation:
    """Implements PhraseMaker: the parent's side of the child that prepares phrases."""

    def __init__(self, args: list[str], texts: Iterable[str], rate: str, *, quiet: bool = True):
        self.rate = rate
        self._missing = set(texts)
        self.total = len(self._missing)
        self._asked: set[str] = set()
        self._changed = threading.Condition()
        self._ended = False
        self.returncode: int | None = None
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL if quiet else None, text=True, encoding="utf-8")
        self._reader = threading.Thread(target=self._read, name="phrases-made", daemon=True)
        self._reader.start()

    @property
    def remaining(self) -> int:
        with self._changed:
            return len(self._missing)

    @property
    def ended(self) -> bool:
        with self._changed:
            return self._ended

    def makes(self, text: str) -> bool:
        with self._changed:
            return not self._ended and text in self._missing

    def wait_for(self, text: str, timeout: float) -> bool:
        with self._changed:
            if text in self._missing and text not in self._asked and not self._ended:
                self._asked.add(text)
                self._send(text)
            return self._changed.wait_for(lambda: text not in self._missing or self._ended, timeout) and \
                text not in self._missing

    def wait_until_made(self, count: int, timeout: float | None = None,
                        progress: Callable[[int, int], None] | None = None) -> bool:
        """Wait until `count` phrases are made (or all, if fewer are missing); False if the child ended
        or the time ran out first."""
        want = min(count, self.total)
        deadline = None if timeout is None else time.monotonic() + timeout

        def made() -> int:
            return self.total - len(self._missing)

        with self._changed:
            while made() < want and not self._ended:
                if progress is not None:
                    progress(made(), want)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(left)
            if progress is not None and made() >= want:
                progress(want, want)
            return made() >= want

    def close(self) -> None:
        """Stop the child after the phrase it is making: what it stored stays for the next session."""
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):  # it has exited and the pipe is gone
                self._proc.stdin.close()
        try:
            self._proc.wait(CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
            self._proc.wait()
        self._reader.join(CLOSE_SECONDS)

    def _send(self, text: str) -> None:
        stdin: IO[str] | None = self._proc.stdin
        try:
            assert stdin is not None
            stdin.write(json.dumps(text) + "\n")
            stdin.flush()
        except (OSError, ValueError):  # the child has ended (or we closed it): the waiter sees `ended`
            pass

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                text = json.loads(line)
            except ValueError:
                continue  # not ours (a library printing to stdout)
            with self._changed:
                self._missing.discard(text)
                self._changed.notify_all()
        self.returncode = self._proc.wait()
        with self._changed:
            self._ended = True
            self._changed.notify_all()
        if self.returncode != 0 and self._missing:
            log.warning("the background preparation of the phrases failed (exit %d) with %d left; the session "
                        "makes those itself", self.returncode, len(self._missing))


def serve_requests(texts: list[str], made: Callable[[str], None], make: Callable[[str], None],
                   requests: IO[str] = sys.stdin) -> int:
    """The child's side: make `texts` in order, each asked-for one next, going on from the asked one;
    `made` reports each. Ends when all are made, or early when `requests` closes (the session ended).
    Returns how many were made."""
    asked: list[str] = []
    closed = threading.Event()
    lock = threading.Lock()

    def listen() -> None:
        for line in requests:
            try:
                text = json.loads(line)
            except ValueError:
                continue
            with lock:
                asked.append(text)
        closed.set()

    threading.Thread(target=listen, name="phrase-requests", daemon=True).start()
    index = {t: i for i, t in enumerate(texts)}
    missing = dict.fromkeys(texts)
    cursor = 0
    count = 0
    while missing and not closed.is_set():
        with lock:
            wanted = [t for t in asked if t in missing]
            asked.clear()
        if wanted:
            text = wanted[0]
            with lock:
                asked[:0] = wanted[1:]
        else:
            text = next((t for t in texts[cursor:] if t in missing), next(iter(missing)))
        cursor = index[text] + 1
        make(text)
        del missing[text]
        count += 1
        made(text)
    return count
