"""Every phrase a routine can say, rendered into the cache before a session needs it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from skill.errors import UserError
from skill.routine.definition import load_routine
from skill.routine.script import spoken_texts
from skill.speaking.background import PRIORITY, BackgroundPreparation, serve_requests
from skill.speaking.voice import PhraseCache, Voice, progress_bar, rate_for_tempo

log = logging.getLogger(__name__)


def unwritable(cache: PhraseCache, problem: OSError) -> UserError:
    return UserError(f"{cache.folder}: cannot store the phrases ({problem.strerror or problem}): make that "
                     "folder writable, or set XDG_CACHE_HOME to one that is")


FIRST_PHRASES = 1
"""Phrases a first session waits for before it starts: the rest are made while it speaks."""


def _phrases(routine_name: str | None, voice_path: str | None, tempo: float) -> tuple[PhraseCache, list[str], str]:
    routine = load_routine(routine_name)
    cache = PhraseCache(Voice(Path(voice_path) if voice_path else None))
    return cache, spoken_texts(routine), rate_for_tempo(tempo)


def prepare(routine_name: str | None, voice_path: str | None, tempo: float = 1.0, quiet: bool = False,
            strict: bool = False) -> PhraseCache:
    """Render the routine's missing phrases into the cache, here. Where the cache cannot be written,
    `render` goes on and makes each phrase as it comes (with one logged line); `strict` (the `prepare`
    command) fails instead, before rendering anything."""
    cache, texts, rate = _phrases(routine_name, voice_path, tempo)
    problem = cache.check_writable()
    if problem is not None:
        if strict:
            raise unwritable(cache, problem)
        log.warning("cannot store phrases in %s (%s): each is made as it comes", cache.folder, problem)
        return cache
    missing = [t for t in texts if not cache.has(t, rate)]
    if missing:
        progress = None if quiet else progress_bar(f"Preparing {len(missing)} phrases")
        cache.prepare(missing, rate, progress)
    return cache


@contextlib.contextmanager
def preparing_in_background(routine_name: str | None, voice_path: str | None, tempo: float = 1.0,
                            notice: Callable[[str], None] | None = None) -> Iterator[PhraseCache]:
    """The cache for sessions, with the phrases it lacks made by a child process while they run (a first
    session waits only for its first phrase); the child is stopped on leaving, keeping what it made. If
    the child fails before its first phrase, everything is prepared here instead, as `prepare` does."""
    cache, texts, rate = _phrases(routine_name, voice_path, tempo)
    problem = cache.check_writable()
    missing = [t for t in texts if not cache.has(t, rate)]
    if problem is not None or not missing:
        if problem is not None:
            log.warning("cannot store phrases in %s (%s): each is spoken as it comes", cache.folder, problem)
        yield cache
        return
    if notice is not None:
        notice(f"preparing the voice's {len(missing)} phrases; the session starts with the first of them")
    maker = BackgroundPreparation(_child_args(routine_name, voice_path, tempo), missing, rate)
    try:
        if maker.wait_until_made(FIRST_PHRASES):
            cache.maker = maker
            yield cache
            return
        log.warning("preparing the phrases in a child process failed (exit %s); preparing them here",
                    maker.returncode)
    finally:
        cache.maker = None
        maker.close()
    yield prepare(routine_name, voice_path, tempo)


def _child_args(routine_name: str | None, voice_path: str | None, tempo: float) -> list[str]:
    args = [sys.executable, "-m", "skill", "prepare", "--background", "--tempo", str(tempo)]
    if voice_path:
        args += ["--voice", voice_path]
    if routine_name:
        args.append(routine_name)
    return args


def prepare_on_request(routine_name: str | None, voice_path: str | None, tempo: float) -> int:
    """The child of `preparing_in_background`: make the missing phrases in spoken order, each asked-for
    one first (texts as JSON lines on stdin), and print each one stored (as a JSON line on stdout)."""
    os.nice(PRIORITY)
    cache, texts, rate = _phrases(routine_name, voice_path, tempo)

    def make(text: str) -> None:
        cache.make(text, rate)
        if cache.write_error is not None:
            raise unwritable(cache, cache.write_error)

    def made(text: str) -> None:
        print(json.dumps(text), flush=True)

    return serve_requests([t for t in texts if not cache.has(t, rate)], made, make)
