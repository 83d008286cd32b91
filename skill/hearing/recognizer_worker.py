"""The recognizer's engine in a child process, for the live session.

pocketsphinx decodes an utterance in one call that holds Python's GIL for 50-100 ms. In the session's
own process that stalls the speaker's audio callback past its buffer: the guide's voice clicks (an
underrun), and the echo canceller's reference slips against what really played. In a child process the
decode runs on another core and the audio callbacks never wait for it.

    python -m skill.hearing.recognizer_worker ENGINE  (pickled sample arrays in on stdin, pickled Recognitions out)
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

import numpy as np

from skill.audio import ASR_RATE
from skill.hearing.recognition import Engine, Recognition
from skill.hearing.recognizer import open_engine

log = logging.getLogger(__name__)

NICE = 10
"""The decoder's niceness: when the CPU is short, the session's audio threads (the speaker's callback every
20 ms, with 60 ms buffered) go first and a command is decoded a little later, instead of the guide's voice
breaking up while a decode runs. Under a 25 % CPU quota here, without it: 105 underruns in 150 s."""


class EngineProcess:
    """An `Engine` whose decoding happens in a child process; restarted if that process dies."""

    def __init__(self, engine: str = "auto", phrases: Sequence[str] | None = None, quiet: bool = False):
        verbose = logging.getLogger().isEnabledFor(logging.INFO)
        flags = (["--quiet"] if quiet else []) + (["--verbose"] if verbose else [])
        self._args = [sys.executable, "-m", "skill.hearing.recognizer_worker", engine, *flags]
        self._phrases = list(phrases) if phrases is not None else None
        self._lock = threading.Lock()
        self._proc = self._start()
        self.name: str = str(self._receive())

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _start(self) -> subprocess.Popen:
        # stderr is the session's own: the child's warnings reach the person as the session's would
        proc = subprocess.Popen(self._args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdin is not None
        pickle.dump(self._phrases, proc.stdin)
        proc.stdin.flush()
        return proc

    def _receive(self) -> object:
        assert self._proc.stdout is not None
        reply = pickle.load(self._proc.stdout)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def decode(self, samples: np.ndarray) -> Recognition:
        with self._lock:
            try:
                assert self._proc.stdin is not None
                pickle.dump(np.asarray(samples, np.float32), self._proc.stdin)
                self._proc.stdin.flush()
                reply = self._receive()
                assert isinstance(reply, Recognition)
                return reply
            except (OSError, EOFError, pickle.UnpicklingError, AssertionError) as err:
                log.warning("the recognizer process failed (%s); starting it again", err or type(err).__name__)
                self.close()
                self._proc = self._start()
                self._receive()
                return Recognition(None, "", 0.0, 0.0, len(samples) / ASR_RATE, reason="recognizer restarted")

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.close()
                self._proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()


def open_engine_process(engine: str = "auto") -> Engine:
    """The engine in a child process; in this one (said once) if no child can be started."""
    try:
        return EngineProcess(engine)
    except (OSError, EOFError, pickle.UnpicklingError) as err:
        log.warning("could not start the recognizer process (%s); recognizing in this one, where the "
                    "guide's voice may stutter while it decodes", err or type(err).__name__)
        return open_engine(engine)


def serve(engine_name: str, quiet: bool) -> int:
    # Ctrl-C (and systemd's SIGTERM) reach the whole process group: the session ends cleanly and closes
    # the pipe, and that ends this process too (also if the session was killed outright).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(NICE)
    stdin = sys.stdin.buffer
    # The pipe to the session carries pickles only: anything else printed (a library's C code writing to
    # fd 1) goes to stderr instead.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        phrases = pickle.load(stdin)
        engine = open_engine(engine_name, phrases, quiet=quiet)
    except Exception as err:  # the parent raises it: a bad --engine is the person's to fix
        pickle.dump(err, stdout)
        stdout.flush()
        return 1
    pickle.dump(engine.name, stdout)
    stdout.flush()
    while True:
        try:
            samples = pickle.load(stdin)
        except EOFError:  # the session closed the pipe: done
            return 0
        pickle.dump(engine.decode(samples), stdout)
        stdout.flush()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO if "--verbose" in sys.argv[2:] else logging.WARNING,
                        format="bedtime-stretch: %(message)s")
    sys.exit(serve(sys.argv[1], "--quiet" in sys.argv[2:]))
