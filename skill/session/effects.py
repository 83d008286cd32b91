"""What the controller asks the world to do, what the world tells the controller, and the speaker's
contract. Small typed values only: the controller never touches audio, threads or the clock itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from skill.hearing.commands import Intent

CHIME_SECONDS = 1.6
"""How long the soft chime between stretches lasts, on every speaker (real or simulated)."""
VOLUME_MIN_DB, VOLUME_MAX_DB = -15.0, 9.0
"""The live gain range, relative to the calm target loudness, that the controller asks for and every speaker
keeps to: nothing can blast at night."""


# ---- events: into the controller -------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    """Time has reached the controller's `wake_at`."""

    now: float


@dataclass(frozen=True)
class Heard:
    """The person said something. `intent` is None when nothing matched."""

    now: float
    intent: Intent | None
    text: str


@dataclass(frozen=True)
class SpeechDone:
    """The speaker has finished everything up to and including utterance `seq` (or cut it)."""

    now: float
    seq: int


@dataclass(frozen=True)
class Begin:
    """The session starts: speak the intro."""

    now: float


Event = Tick | Heard | SpeechDone | Begin


# ---- effects: out of the controller ------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    """Speak `text` after whatever is queued. `tempo` > 1 is slower (Piper's length_scale follows it)."""

    seq: int
    text: str
    tempo: float = 1.0


@dataclass(frozen=True)
class Chime:
    """A soft chime of CHIME_SECONDS, queued like an utterance."""

    seq: int


@dataclass(frozen=True)
class Cut:
    """Silence at once: stop what is playing and drop everything queued."""


@dataclass(frozen=True)
class Volume:
    """Change the output gain by `step_db` (bounded by the speaker)."""

    step_db: float


@dataclass(frozen=True)
class Log:
    """A line of the session's event log (`--events`): stretch, cue, command, state, end."""

    event: str
    data: dict[str, Any] = field(default_factory=dict)


Effect = Say | Chime | Cut | Volume | Log


# ---- the speaker -------------------------------------------------------------------------------------


class Speaker(Protocol):
    """Plays utterances in order, one at a time, and reports each finished `seq` by calling the
    `on_done(seq)` callback it was built with (from any thread). Nothing here may block for long."""

    def say(self, say: Say) -> None:
        """Queue an utterance."""

    def chime(self, chime: Chime) -> None:
        """Queue the between-stretch chime."""

    def cut(self) -> None:
        """Stop within 100 ms and drop the queue; queued and cut utterances are reported done."""

    def change_volume(self, step_db: float) -> float:
        """Change the gain by step_db within the speaker's safe range; return the new gain in dB."""

    def close(self, fade: bool = True) -> None:
        """Finish what is queued (with a slow fade at the end when `fade`), then release the device."""
