"""Every phrase a routine can say, rendered into the cache before a session needs it."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from skill.errors import UserError
from skill.routine.definition import load_routine
from skill.routine.script import spoken_texts
from skill.speaking.voice import PhraseCache, Voice, progress_bar, rate_for_tempo

log = logging.getLogger(__name__)


def unwritable(cache: PhraseCache, problem: OSError) -> UserError:
    return UserError(f"{cache.folder}: cannot store the phrases ({problem.strerror or problem}): make that "
                     "folder writable, or set XDG_CACHE_HOME to one that is")


def prepare(routine_name: str | None, voice_path: str | None, tempo: float = 1.0, quiet: bool = False,
            strict: bool = False, in_child: bool = False) -> PhraseCache:
    """Render the routine's missing phrases into the cache. Where the cache cannot be written, a session
    goes on and speaks each phrase as it comes (with one logged line); `strict` (the `prepare` command)
    fails instead, before rendering anything."""
    routine = load_routine(routine_name)
    cache = PhraseCache(Voice(Path(voice_path) if voice_path else None))
    texts = spoken_texts(routine)
    rate = rate_for_tempo(tempo)
    problem = cache.check_writable()
    if problem is not None:
        if strict:
            raise unwritable(cache, problem)
        log.warning("cannot store phrases in %s (%s): each is spoken as it comes", cache.folder, problem)
        return cache
    missing = [t for t in texts if not cache.has(t, rate)]
    if missing and in_child and _prepare_in_child(routine_name, voice_path, tempo, quiet):
        return cache
    if missing:
        progress = None if quiet else progress_bar(f"Preparing {len(missing)} phrases")
        cache.prepare(missing, rate, progress)
    return cache


def _prepare_in_child(routine_name: str | None, voice_path: str | None, tempo: float, quiet: bool) -> bool:
    """Render in a child process: the voice (about 400 MB with onnxruntime) is freed when it exits, instead of
    staying in the session's process for the whole night. False if the child failed (then the caller
    prepares in its own process, which says why)."""
    args = [sys.executable, "-m", "skill", "prepare", "--tempo", str(tempo)]
    if voice_path:
        args += ["--voice", voice_path]
    if routine_name:
        args.append(routine_name)
    done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if quiet else None, check=False)
    if done.returncode != 0:
        log.warning("preparing the phrases in a child process failed (exit %d); preparing them here",
                    done.returncode)
    return done.returncode == 0
