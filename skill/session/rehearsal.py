"""What `check` runs before it says ok: everything a session would, so a routine that passes never fails
later. Every line it can say is formed, and the whole routine is simulated at the slowest pace, nobody
answering, within the longest session the guide allows."""

from __future__ import annotations

from dataclasses import dataclass, replace

from skill.session.loop import MAX_SESSION_SECONDS, simulate
from skill.errors import UserError
from skill.routine.pacer import TEMPO_MAX
from skill.routine.definition import Routine
from skill.routine.script import spoken_texts


@dataclass(frozen=True)
class Rehearsal:
    lines: int
    """Distinct texts the guide can say."""
    seconds: float
    """The session at the normal pace with nobody answering."""
    slowest_seconds: float


def _seconds(routine: Routine, tempo: float) -> float:
    return simulate(routine, tempo=tempo)[-1].t


def rehearse(routine: Routine) -> Rehearsal:
    """Raises UserError naming the file and what to change."""
    file = routine.path
    try:
        lines = len(spoken_texts(routine))
        normal = _seconds(routine, 1.0)
        slowest = _seconds(routine, TEMPO_MAX)
    except RuntimeError:
        longest = max(range(len(routine.stretches)), key=lambda i: _stretch_seconds(routine, i))
        hours = MAX_SESSION_SECONDS / 3600
        raise UserError(f"{file}: stretches[{longest}] ({routine.stretches[longest].name}): the session would run "
                        f"past {hours:.0f} hours at the slowest pace; lower its hold, repeat or sides") from None
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise UserError(f"{file}: a session on it fails ({type(err).__name__}: {err}); "
                        "check its phrases and holds") from None
    return Rehearsal(lines=lines, seconds=normal, slowest_seconds=slowest)


def _stretch_seconds(routine: Routine, index: int) -> float:
    alone = replace(routine, stretches=(routine.stretches[index],))
    try:
        return _seconds(alone, TEMPO_MAX)
    except RuntimeError:
        return MAX_SESSION_SECONDS
